"""Diagnostics of Harmony3D / Harmony3D+MCL on the seed004 preset: per-epoch loss terms, spread of z across
particles, decoder dependence on z, the encoder's rotation/translation statistics, and a quick ARI (PCA(4) → GMM(4) on z).

Usage (from the repository root, PYTHONPATH=$PWD):
  python benchmarks/harmony_experiments.py simulate runs/data24 24 0.1    # seed004, 120/class, MWA 30, seed 0
  python benchmarks/harmony_experiments.py simulate runs/data16 16 0.1
  python benchmarks/harmony_experiments.py diag runs/data24 '{"epochs":8,"latent_dim":8,"channels":[16,32,64,64],"hidden":128,"loss_frame":"template","z_norm":false}'
  THREADS=1 python benchmarks/harmony_experiments.py diag runs/data16 '{"epochs":12,"latent_dim":8,"channels":[16,32,64,64],"hidden":128,"noise_std":1.0}'
  python benchmarks/harmony_experiments.py simulate runs/data32 32 0.1     # then Fourier-crop to 16³ in diag ("crop":16)
  THREADS=1 python benchmarks/harmony_experiments.py diag runs/data32 '{"model":"harmony3d","epochs":15,"latent_dim":8,"channels":[16,32,64,64],"hidden":128,"crop":16,"lowpass":0.25}'
  python benchmarks/harmony_experiments.py crop runs/data32 runs/data32c16 16      # a cropped dataset folder for the pipeline
  THREADS=1 python benchmarks/harmony_experiments.py pipeline runs/data32c16 runs/pipe_h3d harmony3d 15 ['{"lowpass":0.25}']
Harness-only options of diag: "crop" (Fourier-crop the data and re-standardise), "freeze" (θ = identity for that many
epochs), "w_siamese"/"w_embed" (weights of those terms), "model" (also "beta_vae" for comparison).

Columns: recon/recon_prime/siamese/embed = epoch means of the loss terms; zstd = mean over dims of std of z across
particles (eval); tmplstd = mean voxel std of the decoded templates across particles (0 = decoder ignores z);
tmplrms = rms of the templates; ang_mean/ang_std = geodesic angle of the encoder's rotation from identity (deg);
tabs = mean |translation| (voxels); ari = PCA(4) → GMM(4) on z. Findings quoted in benchmarks/README.md (Harmony3D and
the multi-choice loss) and nbs/37_models.harmony.ipynb.
"""
import json, os, sys, time
import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture
from cryo_disent.data.datasets import VolumeDataset
from cryo_disent.models.registry import get_model_class


def load(folder, crop=0):
    "Particles [N, 1, n, n, n] and labels; `crop` > 0: Fourier-cropped to crop³ and re-standardised (App. A.4 preprocessing)."
    ds = VolumeDataset.from_folder(folder)
    x = torch.stack([ds[i]["x"] for i in range(len(ds))])
    if crop:
        from cryo_disent.physics.fourier import fourier_crop
        x = fourier_crop(x, crop)
        x = (x - x.mean((2, 3, 4), keepdim=True)) / x.std((2, 3, 4), keepdim=True)
    return x, ds.labels.numpy()


def ari_of(z, y, k=4, seed=0):
    z = (z - z.mean(0)) / (z.std(0) + 1e-8)
    if z.shape[1] > 4:
        z = PCA(4, random_state=seed).fit_transform(z)
    return adjusted_rand_score(y, GaussianMixture(k, n_init=3, random_state=seed).fit_predict(z))


def angle(R):
    return torch.rad2deg(torch.acos(((R.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1)))


def freeze_pose(m, epochs):
    "Harness-only ablation: θ forced to (identity, 0) during the first `epochs` training epochs (and in eval meanwhile)."
    enc = m.encode
    def encode(x):
        lat = enc(x)
        if m._ep < epochs:
            lat["rotation"] = torch.eye(3, dtype=x.dtype).expand(len(x), 3, 3)
            lat["translation"] = lat["translation"] * 0
        return lat
    m.encode = encode


def diag(folder, model="harmony3d_mcl", epochs=15, bs=32, lr=1e-3, seed=0, freeze=0, w_siamese=1.0, w_embed=1.0,
         crop=0, **cfg):
    "Plain Adam loop over all particles (no validation split), one JSON line per epoch."
    x, y = load(folder, crop)
    torch.manual_seed(seed)
    cls = get_model_class(model)
    m = cls(cls.config_cls(input_shape=tuple(x.shape[1:]), lr=lr, **cfg))
    m._ep = 0
    if freeze:
        freeze_pose(m, freeze)
    opt = torch.optim.Adam(m.parameters(), lr=lr)
    t0 = time.time()
    for ep in range(epochs):
        m.train()
        m._ep = ep
        perm = torch.randperm(len(x))
        acc = {}
        for i in range(0, len(x), bs):
            b = dict(x=x[perm[i:i + bs]])
            mo = m.loss(b, m.forward_main(b, ep), ep)
            T = mo.terms
            loss = T["recon"] + T["recon_prime"] + w_siamese * T["siamese"] + w_embed * T["embed"] if "siamese" in T else mo.loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            for k, v in mo.terms.items():
                acc.setdefault(k, []).append(float(v.detach()))
        m.eval()
        with torch.no_grad():
            lat = m.encode(x)
            z = lat["content"]
            tm = m.decoder(z)
            if tm.dim() > 5: tm = tm.flatten(0, -5)
        a = angle(lat["rotation"]) if "rotation" in lat else torch.zeros(1)
        if "translation" not in lat: lat["translation"] = torch.zeros(1)
        rec = dict(ep=ep, t=round(time.time() - t0, 1), **{k: round(float(np.mean(v)), 1) for k, v in acc.items()},
                   zstd=round(float(z.std(0).mean()), 3), tmplstd=round(float(tm.std(0).mean()), 4),
                   tmplrms=round(float(tm.pow(2).mean().sqrt()), 3), ang_mean=round(float(a.mean()), 1),
                   ang_std=round(float(a.std()), 1), tabs=round(float(lat["translation"].abs().mean()), 2),
                   ari=round(ari_of(z.numpy(), y), 3), load=os.getloadavg()[0])
        print(json.dumps(rec), flush=True)
    return m


def simulate(out, box, snr, mwa=30):
    from cryo_disent.physics.simulate import simulate_dataset
    simulate_dataset("seed004", out, n_per_class=120, box=int(box), snr=float(snr), mwa=float(mwa), seed=0, progress=False)


def crop(src, dst, size):
    "A dataset folder Fourier-cropped to size³ (App. A.4's preprocessing), shifts and voxel sizes rescaled, for run_pipeline."
    from cryo_disent.data.datasets import save_dataset
    from cryo_disent.physics.fourier import fourier_crop
    ds = VolumeDataset.from_folder(src, standardize=False)
    size = int(size)
    n = ds[0]["x"].shape[-1]
    x = fourier_crop(torch.stack([ds[i]["x"][0] for i in range(len(ds))]), size)
    t = ds.table.copy()
    for c in ("shift_x", "shift_y", "shift_z"):
        t[c] = t[c] * size / n
    t["voxel_size"] = t["voxel_size"] * n / size
    save_dataset(dst, x.numpy(), t, cropped_from=str(src), crop_box=size)
    ref = os.path.join(src, "references.npy")
    if os.path.exists(ref):
        np.save(os.path.join(dst, "references.npy"), fourier_crop(torch.from_numpy(np.load(ref)), size).numpy())


def pipeline(data, out, model, epochs, **cfg):
    "run_pipeline (Trainer, 10 % validation, embed, PCA(4) → GMM(4), metrics) with the diag widths; prints the metrics and the time."
    from cryo_disent.app.pipelines import run_pipeline
    t0 = time.time()
    mc = dict(latent_dim=8, channels=[16, 32, 64, 64], hidden=128, **cfg) if model.startswith("harmony") else dict(latent_dim=8, **cfg)
    r = run_pipeline(data, out, model=model, model_config=mc, resume=False,
                     train_config=dict(epochs=int(epochs), batch_size=32, seed=0, progress=False), report=False, n_rotations=200)
    keep = {k: v for k, v in r.items() if isinstance(v, (int, float, str))}
    print(json.dumps(dict(wall_s=round(time.time() - t0, 1), **keep)), flush=True)


if __name__ == "__main__":
    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    if sys.argv[1] == "simulate":
        simulate(*sys.argv[2:])
    elif sys.argv[1] == "crop":
        crop(*sys.argv[2:])
    elif sys.argv[1] == "pipeline":
        pipeline(*sys.argv[2:6], **(json.loads(sys.argv[6]) if len(sys.argv) > 6 else {}))
    else:
        diag(sys.argv[2], **(json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}))

# ---------------------------------------------------------------------------------------------------------------------
# Recorded (2026-11-30, 2-core x86_64 dev box shared with other engineers: load average 4.5–10 during these runs, so
# times are 3–15× the idle ones; data: seed004, 120/class, SNR 0.1, MWA 30°, seed 0; model harmony3d_mcl, latent 8,
# channels (16,32,64,64), hidden 128, lr 1e-3, batch 32, noise_std 1 unless stated). Last epoch shown.
#
# 1. Literal §3.2.1 form (loss_frame='template', z_norm=False; = the code before this branch), 24³, 2 threads:
#    diag runs/data24 '{"epochs":8,...,"loss_frame":"template","z_norm":false}'  (run with the pre-change defaults)
#    ep 6 (35 s/epoch): recon 3789, siamese 7015, embed 28, zstd 0.17, tmplstd 0.0008, ang_std 0.0°, |t| 4.00, ARI 0.019
#    → every particle gets the same rotation, t pinned at the 4-voxel bound, decoder ≈ 0: θ shrinks its own target.
# 2. loss_frame='particle', no z_norm, 24³: ep 1 (84 s/epoch, load 8): recon 13691 (≈ ‖I‖² = 13824), zstd 0.12,
#    tmplstd 0.003, ang 52 ± 28°, |t| 0.42, ARI 0.02  → θ moves per particle now; z collapsing (0.12 ≪ σ_ε = 1).
# 3. loss_frame='particle', no z_norm, 16³ (THREADS=1, two runs in parallel), noise_std 1.0 / 0.1:
#    ep 3: recon 4027 (‖I‖² = 4096), zstd 0.061 / 0.082, tmplstd 0.0012 / 0.0007, ARI 0.001 / 0.007
# 4. + z_norm (BatchNorm on z), 16³, noise_std 1.0 / 0.3: ep 2–3: zstd 1.07 / 1.10, tmplstd 0.010 / 0.010,
#    embed 9.2 / 8.5 (= uncorrelated z, z'), ARI -0.001 / 0.007
# 5. + z_norm, noise_std 0, lr 3e-3, 16³: ep 2: zstd 1.43, tmplstd 0.031, siamese 5172 (no decrease), ARI -0.002
# Signal ceiling (16³ data): corr(particle, reference at the true pose) = |0.21| → 4.5 % of a particle's energy;
#    a wrong-class reference at the true pose |0.05|: the class-specific part of the SSE is ~100–200 of ~4096.
# 6. Pipeline, defaults of this branch (loss_frame='particle', z_norm=True), 16³, 12 epochs, load ≈ 9–10:
#    run_pipeline('runs/data16', 'runs/try16_bn', model='harmony3d_mcl', model_config=dict(latent_dim=8,
#      channels=[16,32,64,64], hidden=128), train_config=dict(epochs=12, batch_size=32, seed=0, progress=False),
#      n_rotations=200, report=False)
#    → ARI 0.002, accuracy 0.296, SAP 0.027, AUC-FSC (templates) 0.413, median pose error 125.5°; 9 min 28 s wall
#    (4 min 02 s CPU), ~70 s/epoch under load. Target (ARI ≥ 0.9 in ≤ 6 min) NOT reached.
#
# --- Session 2026-11-30 (branch `learn`): what made Harmony learn. Same 2-core box, quieter (load 2.5–5, partly other
# users); THREADS=1 per run, usually two runs in parallel; widths as above (latent 8, channels (16,32,64,64), hidden 128),
# lr 1e-3, batch 32, seed 0 unless stated. ARI = this harness's PCA(4) → GMM(4) on z unless marked "pipeline".
# 7. Sanity, SNR 10, 16³ (simulate runs/data16_snr10 16 10), harmony3d, no low-pass, 2 threads, 6 epochs:
#    recon 4027 → 3340, siamese 5042 → 3316, ARI 0.05 → 0.15 (~10 s/epoch) → it learns, slowly; no sign error in the pose
#    algebra (the notebook's noise-free checks hold), but the loss is dominated by what no template can fit.
# 8. Autoencoder ablation on runs/data16 (SNR 0.1): θ frozen at identity ("freeze":100), "w_siamese":0, 8 epochs:
#    noise_std 1: ARI 0.193, recon 4021 (‖I‖² ≈ 4096); noise_std 0.1: ARI 0.188 (ep 4)  → even the plain AE does not
#    separate the classes on the 16³-simulated data: not a Harmony bug. Observed here: recon_prime ≈ 1712 ≈ 0.42 × recon:
#    the siamese view I' = warp(I, Q) loses more than half its power, because trilinear interpolation low-passes the
#    (white) noise. I and I' then have different spectra, so z ≠ z' and the siamese SSE cannot fall.
# 9. + model low-pass "lowpass":0.25 cycles/voxel (new config field, now the default), AE mode, data16, 8 epochs:
#    noise_std 1: ARI 0.188 (recon 366 → 318); noise_std 0: 0.221; noise_std 0, dropout 0: 0.299.
# 10. Full harmony3d + lowpass 0.25, data16, 8 epochs: siamese 531 → 176 (the first run where it falls), ARI 0.10.
# 11. beta_vae in this harness, data16, 8 epochs: ARI 0.013. The β-VAE's 0.88–0.99 (README) is on `make demo`'s data,
#    simulated at 32³ (4 × 150): the per-voxel SNR 0.1 of a 16³ simulation (26.4 Å voxels) leaves 8× less signal per
#    particle. The 16³-simulated sets are too hard for every model at this budget; the comparison was not like for like.
# 12. Data simulated at 32³ (simulate runs/data32 32 0.1), Fourier-cropped to 16³ and re-standardised ("crop":16, App. A.4:
#    low-pass, Fourier crop, standardise), 15 epochs:
#    beta_vae (10 ep): ARI 0.41 (1.3 s/epoch)
#    harmony3d, lowpass 0:    ARI 0.34 at ep 9; siamese flat (4937 → 4299), recon_prime 1669 vs recon 3778
#    harmony3d, lowpass 0.25: ARI by epoch 0.47, 0.42, 0.62, 0.64, 0.78, 0.81, 0.88, 0.89, 0.93, 0.93, 0.94, 0.93, 0.92,
#                             0.94, 0.97; siamese 420 → 244; 104 s for 15 epochs (≥ 0.9 from ep 8, 70 s)
#      same, seed 1:          0.35, 0.49, 0.63, 0.55, 0.85, 0.94, 0.93, 0.95, 0.94, 0.94, 0.95, 0.97, 0.98, 0.97, 0.97 (120 s)
#    harmony3d, lowpass 0.35: ARI 0.52 at ep 14 (siamese 1253 → 784)
#    harmony3d_mcl (N 96, ±90° all 15 epochs), lowpass 0.25: 0.45 … 0.93 (ep 7), 0.96 (ep 9), 0.945 (ep 14); 151 s
#   Pipeline (Trainer with 10 % validation, embed, PCA(4) → GMM, K by BIC), on the cropped folder
#    (crop runs/data32 runs/data32c16 16; pipeline runs/data32c16 OUT MODEL 15), default config (lowpass 0.25):
#    harmony3d:     ARI 0.962, accuracy 0.985, F1 0.985, K = 4 chosen by BIC, SAP 0.10, 66.7 s wall (THREADS=1, one other run)
#    harmony3d_mcl: ARI 0.861, accuracy 0.944, F1 0.944, K = 4 by BIC, SAP 0.47, 80.1 s wall
#    beta_vae:      ARI 0.722, accuracy 0.731, F1 0.807, K = 7 by BIC, 14.0 s wall
#    Poses are not recovered: median pose error 129° (harmony3d and MCL alike; random ≈ 126°), template AUC-FSC ≈ 0.
# 13. SNR 0.01 (simulate runs/data32_snr001 32 0.01, "crop":16), harness ARI:
#    harmony3d lowpass 0.25:     15 ep 0.238; 40 ep 0.31 (fluctuating 0.16–0.37, 166 s)
#    harmony3d_mcl lowpass 0.25: 15 ep 0.152; 38 ep 0.157 (0.13–0.30, 188 s)
#    harmony3d lowpass 0.15:     0.15 after 16 ep (stopped)
#    beta_vae (30 ep):           0.31 (44 s)
#    → at SNR 0.01 nothing learns within this budget; the MCL gain of the paper (+0.16 ARI) is not reproduced here.
# 14. No crop: the 32³ data directly, harmony3d "lowpass":0.125 (the same ≈ 90 Å as 0.25 at 16³), 2 threads:
#    diag runs/data32 '{"model":"harmony3d","epochs":12,...,"lowpass":0.125}': ARI 0.77, 0.90, 0.81 after epochs 0–2
#    (45 s/epoch, load ≈ 4; stopped). Pipeline, 6 epochs (THREADS=2 ... pipeline runs/data32 runs/pipe_h3d_32 harmony3d 6
#    '{"lowpass":0.125}'): ARI 0.940, accuracy 0.977, F1 0.977, K = 4 by BIC, SAP 0.30, template AUC-FSC 0.20, per-class
#    average AUC-FSC 0.36, median pose error 129° (chance); 292.6 s wall (load 3–4.5, a 49 s simulation ran alongside).
# 15. SNR 0.01 with 4 × 500 particles (simulate at 32³: simulate_dataset('seed004', 'runs/data32_snr001_n500',
#    n_per_class=500, box=32, snr=0.01, mwa=30, seed=0), "crop":16, "lowpass":0.25, 12 epochs, THREADS=1, two in parallel):
#    harmony3d:     ARI 0.30 → 0.33 (flat from epoch 2), siamese 371 → 264, 131 s
#    harmony3d_mcl: ARI 0.16 → 0.17 (≤ 0.25), 169 s; its siamese SSE fell 372 → 62 (θ' ≈ Q θ: the in-plane pose became
#                   consistent between the branches, which harmony3d did not reach) but z did not separate the classes
#    beta_vae (THREADS=2): ARI 0.45 after 12 epochs, 17 s
#    → at SNR 0.01 the Harmony models stay below the β-VAE at this budget; no MCL gain (paper: 0.694 → 0.854 with
#    4000 particles × 200 epochs on a GPU).
# 16. harmony3d_mcl at SNR 0.1 ("crop":16, "lowpass":0.25, 15 epochs, THREADS=1, two in parallel, load ≈ 2.5):
#    N 16, ±30° all along ("mcl_candidates":16,"mcl_max_angle":30.0): ARI 0.49 … 0.90 (ep 5), 0.94 (7), 0.95 (14); 48 s
#    N 96, ±90° → ±30° at epoch 4 (the paper's 40-of-200 schedule scaled to 15 epochs): 0.45 … 0.91 (6), 0.96 (12),
#    0.92 (14); 56 s. In all MCL runs the encoder's rotations stay ≈ 20° from the identity (ang_mean), as in harmony3d.
