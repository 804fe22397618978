"""Can the 3D Spatial-VAE learn? (issue 9, step 1: bug hunt before scale.) A bare training loop, no trainer.

    PYTHONPATH=$PWD nice -n 10 python benchmarks/spatial_diag.py [--full] [--snr inf] [--n 512] [--box 16] [--steps 200]
        [--bs 32] [--lr 1e-3] [--hidden 256] [--dh 128] [--z 8] [--lp 0] [--lpenc 0] [--warm 0] [--rs 0] [--set '{}']

Default data: noise-free particles of ONE structure (TRiC), shifts only (rotation = identity, no CTF, no wedge).
`--rot full` keeps the simulator's random rotations; `--full` is seed000 itself (8 classes, rotations, CTF, wedge 30°).
`--lp σ` Gaussian-blurs the data (σ voxels, then re-standardised), `--lpenc σ` only the encoder's input; `--warm N`
ramps the KL weight 0 → 1 over N steps; `--rs σ` weights the model's `recon` term by 1/(2σ²) (on top of its own σ).
Every `steps/8` steps it prints the training terms and, on all particles (eval mode, posterior means): `mse` of the
reconstruction, Pearson `r` per axis between the translation latent (−R(Θ)Δt, voxels) and the true shift, `r_dt0`
(−Δt alone), `r_cent` (energy centroid of the posed decode), `r_cent_input` (the same centroid of the input: what a
trivial estimator gets), `ari` (GMM on z, with --full) and `dt_sd` (spread of the Δt means).
"""
import argparse, time, math, json
import numpy as np, torch
from cryo_disent.core import seed_everything
from cryo_disent.simulate import Simulator
from cryo_disent.data import standardize
from cryo_disent.models.spatial_vae import SpatialVAE3d, SpatialVAE3dCNN, VAE3dMLP

p = argparse.ArgumentParser()
p.add_argument("--box", type=int, default=16)
p.add_argument("--n", type=int, default=512)
p.add_argument("--rot", default="none")  # none | full
p.add_argument("--snr", type=float, default=math.inf)
p.add_argument("--steps", type=int, default=200)
p.add_argument("--bs", type=int, default=32)
p.add_argument("--lr", type=float, default=1e-3)
p.add_argument("--hidden", type=int, default=256)
p.add_argument("--dh", type=int, default=128)
p.add_argument("--z", type=int, default=8)
p.add_argument("--model", default="spatial_vae3d")
p.add_argument("--set", default="{}")
p.add_argument("--threads", type=int, default=1)
p.add_argument("--full", action="store_true")
p.add_argument("--lp", type=float, default=0)
p.add_argument("--lpenc", type=float, default=0)
p.add_argument("--tag", default="")  # save the model as spatial_diag_<tag>.pt
p.add_argument("--warm", type=int, default=0)
p.add_argument("--rs", type=float, default=0)
a = p.parse_args()
torch.set_num_threads(a.threads)
seed_everything(0)
sim = Simulator("seed000", n_per_class=a.n // 8, box=a.box, snr=a.snr) if a.full else Simulator("seed000", structures=("4V8R_TRiC_one",), n_per_class=a.n, box=a.box, mwa=0.0, ctf=None, snr=a.snr)
if a.rot == "none" and not a.full:
    sim.R = torch.eye(3, dtype=torch.float64).expand(a.n, 3, 3).clone()
x, _ = sim.render(range(a.n))
if a.lp > 0:
    k = torch.fft.fftfreq(a.box)
    kk = k[:, None, None] ** 2 + k[None, :, None] ** 2 + k[None, None, :] ** 2
    x = torch.fft.ifftn(torch.fft.fftn(x, dim=(-3, -2, -1)) * torch.exp(-2 * math.pi ** 2 * a.lp ** 2 * kk), dim=(-3, -2, -1)).real
x = standardize(x, dims=(-3, -2, -1))[:, None].float()
true_t = sim.t.float()
labels = sim.labels.numpy()
cls = dict(spatial_vae3d=SpatialVAE3d, spatial_vae3d_cnn=SpatialVAE3dCNN, vae3d_mlp=VAE3dMLP)[a.model]
m = cls(input_shape=(1, a.box, a.box, a.box), latent_dim=a.z, hidden=a.hidden, decoder_hidden=a.dh, lr=a.lr, **json.loads(a.set))
if a.lpenc > 0:
    class Blur(torch.nn.Module):
        def __init__(self, net, s):
            super().__init__()
            self.net = net
            k = torch.fft.fftfreq(a.box)
            kk = k[:, None, None] ** 2 + k[None, :, None] ** 2 + k[None, None, :] ** 2
            self.register_buffer("H", torch.exp(-2 * math.pi ** 2 * s ** 2 * kk))
        def forward(self, x):
            x = torch.fft.ifftn(torch.fft.fftn(x, dim=(-3, -2, -1)) * self.H, dim=(-3, -2, -1)).real
            return self.net(x)
    m.encoder = Blur(m.encoder, a.lpenc)
opt = torch.optim.Adam(m.parameters(), lr=a.lr)
g = torch.Generator().manual_seed(0)
def evaluate():
    m.eval()
    with torch.no_grad():
        lat = m.encode(x)
        xh = m.decode(lat)
    m.train()
    mse = float((xh - x).pow(2).mean())
    out = dict(mse=round(mse, 4))
    if "translation" in lat:
        t = lat["translation"]
        r = [float(np.corrcoef(t[:, i], true_t[:, i])[0, 1]) for i in range(3)]
        out["r"] = [round(v, 3) for v in r]
        # cross-axis: which predicted axis tracks which true axis
        C = np.corrcoef(t.T.numpy(), true_t.T.numpy())[:3, 3:]
        out["best_axis"] = np.abs(C).argmax(0).tolist()
        out["sign"] = [round(float(C[j, i]), 2) for i, j in enumerate(np.abs(C).argmax(0))]
        from sklearn.mixture import GaussianMixture
        from sklearn.metrics import adjusted_rand_score
        if a.full: out["ari"] = round(adjusted_rand_score(labels, GaussianMixture(8, random_state=0).fit_predict(lat["content"].numpy())), 3)
        hf = (a.box - 1) / 2
        r0 = [float(np.corrcoef(-lat["translation_params"][:, i] * hf, true_t[:, i])[0, 1]) for i in range(3)]
        out["r_dt0"] = [round(v, 3) for v in r0]
        from cryo_disent.geometry import coordinate_grid
        G = coordinate_grid((a.box,) * 3).reshape(-1, 3) * hf
        e = (xh - xh.mean((2, 3, 4), keepdim=True)).pow(2).flatten(1)
        cen = (e @ G) / e.sum(1, keepdim=True)
        e0 = (x - x.mean((2, 3, 4), keepdim=True)).pow(2).flatten(1)
        cen_in = (e0 @ G) / e0.sum(1, keepdim=True)
        out["r_cent"] = [round(float(np.corrcoef(cen[:, i], true_t[:, i])[0, 1]), 3) for i in range(3)]
        out["r_cent_input"] = [round(float(np.corrcoef(cen_in[:, i], true_t[:, i])[0, 1]), 3) for i in range(3)]
        out["dt_sd"] = round(float(lat["translation_params"].std(0).mean()), 4)
    return out
t0 = time.time()
for step in range(a.steps + 1):
    if step % max(1, a.steps // 8) == 0:
        print(step, f"{time.time()-t0:.0f}s", evaluate(), flush=True)
    if step == a.steps:
        if a.tag: torch.save(m.state_dict(), f"spatial_diag_{a.tag}.pt")
        break
    idx = torch.randint(0, a.n, (a.bs,), generator=g)
    batch = dict(x=x[idx])
    mo = m.loss(batch, m(batch))
    beta = min(1.0, step / a.warm) if a.warm else 1.0
    w = 1.0 / (2 * a.rs ** 2) if a.rs else 1.0
    loss = w * mo.terms["recon"] + beta * mo.terms["kl"]
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % max(1, a.steps // 8) == 0:
        print("   terms", {k: round(float(v.detach()), 3) for k, v in mo.terms.items()}, f'{time.time()-t0:.1f}s', flush=True)
