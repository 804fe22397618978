"""What limits the translation latent's |r| on seed000, measured without the VAE:

    PYTHONPATH=$PWD python benchmarks/spatial_shift_limits.py supervised DATA_DIR [--steps 3000] [--head soft|cnn]
    PYTHONPATH=$PWD python benchmarks/spatial_shift_limits.py clean [--n 200]

`supervised`: the upper bound of a learned estimator on the data — a shift head trained *with* the true shifts (MSE,
Adam 1e-3, batch 16, one thread) on 80 % of the particles (low-passed to 5 voxels and re-standardised, as the model's
`lowpass` does), Pearson r per axis on the other 20 %, overall and per class. `--head soft` is the model's
`SoftArgmaxShift` (channels 8, 8), `--head cnn` the strided `ConvEncoder` (16, 32, 64) with a Linear(256) tanh head.
`clean`: noise-free seed000 particles (200 per structure, three structures, 16³ and 28³, with and without the 30°
missing wedge): slope, offset and r of the energy centroid (`spatial_vae.energy_centroid`) against the true shift per axis.
"""
import argparse, math, time
import numpy as np
import torch
from cryo_disent.data.datasets import VolumeDataset, standardize
from cryo_disent.physics.fourier import gaussian_lowpass
from cryo_disent.models.layers import ConvEncoder
from cryo_disent.models.spatial_nets import SoftArgmaxShift
from cryo_disent.models.spatial_vae import energy_centroid
from cryo_disent.physics.simulate import Simulator


def prepare(x): return standardize(gaussian_lowpass(x, 5.0), dims=(1, 2, 3, 4))


def supervised(a):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    ds = VolumeDataset.from_folder(a.data)
    x = prepare(torch.stack([ds[i]["x"] for i in range(len(ds))]))
    ts = torch.tensor(np.stack([np.asarray(ds[i]["shift"]) for i in range(len(ds))])).float()
    y = np.array([int(ds[i]["label"]) for i in range(len(ds))])
    D = x.shape[-1]
    half = (D - 1) / 2
    idx = torch.randperm(len(x))
    tr, te = idx[: int(0.8 * len(x))], idx[int(0.8 * len(x)):]
    if a.head == "soft": net = SoftArgmaxShift((D, D, D), (8, 8))
    else:
        conv = ConvEncoder((1, D, D, D), (16, 32, 64))
        net = torch.nn.Sequential(conv, torch.nn.Linear(conv.feature_dim, 256), torch.nn.Tanh(), torch.nn.Linear(256, 3))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    t0 = time.time()
    for s in range(a.steps):
        b = tr[torch.randint(len(tr), (16,))]
        loss = (net(x[b]) * half - ts[b]).pow(2).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad(): p = (net(x[te]) * half).numpy()
    t, yt = ts[te].numpy(), y[te.numpy()]
    r = lambda k: [round(float(np.corrcoef(p[k, i], t[k, i])[0, 1]), 3) for i in range(3)]
    allk = np.ones(len(t), bool)
    print(f"{a.head} head, {a.steps} steps, {time.time() - t0:.0f} s: held-out r {r(allk)}, |r| mean {np.mean(np.abs(r(allk))):.3f}")
    for c in np.unique(yt): print(f"  class {c}: r {r(yt == c)}")


def clean(a):
    for box in (16, 28):
        for name in ("4V1W_apoferritin", "4V8R_TRiC_one", "3ENL_enolase_dimer"):
            for mwa in (30.0, 0.0):
                sim = Simulator("seed000", structures=(name,), n_per_class=a.n, box=box, snr=math.inf, mwa=mwa, seed=0)
                x, _ = sim.render(range(a.n))
                x = torch.as_tensor(x).float()
                c = energy_centroid(prepare(x if x.ndim == 5 else x[:, None])).numpy() * (box - 1) / 2
                t = sim.t.numpy()
                out = []
                for i in range(3):
                    coef, *_ = np.linalg.lstsq(np.c_[t[:, i], np.ones(len(t))], c[:, i], rcond=None)
                    out.append(f"{coef[0]:.2f}·t{coef[1]:+.2f} (r {np.corrcoef(c[:, i], t[:, i])[0, 1]:.2f})")
                print(f"{box}³ {name} MWA {mwa:g}°: x {out[0]} | y {out[1]} | z {out[2]}", flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["supervised", "clean"])
    p.add_argument("data", nargs="?")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--head", choices=["soft", "cnn"], default="soft")
    p.add_argument("--n", type=int, default=200)
    a = p.parse_args()
    supervised(a) if a.what == "supervised" else clean(a)
