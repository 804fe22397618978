"""Diagnostics of DualContrast on seed004 volumes (issue 8's unmet 3D target): per-epoch loss terms, whether c is
rotation-invariant (cosine of c(x) with c(T(x)), with c of the same class and of other classes), and the ARI of c.

Usage (from the repository root, PYTHONPATH=$PWD; data folders from `simulate_dataset`, e.g. `make demo`'s runs/demo/data):
  python benchmarks/dualcontrast_experiments.py runs/clean32 '{"epochs":4,"latent_dim":50,"lam":3}'
  python benchmarks/dualcontrast_experiments.py runs/demo/data '{"epochs":6,"latent_dim":50,"lam":3,"lowpass":0.126}'
Harness-only keys: epochs, batch_size (32), seed (0), n (first n particles, default all), crop (Fourier-crop to
this box first), prefilter (low-pass the data once, cycles/voxel), save (an .npz for c and the labels), restd (true:
re-standardise every particle after the model's low-pass, x and T(x); patched in here, not a model option), rnorm (true:
divide the reconstruction terms by the variance of the low-passed batch; patched in here), voxels (true: print only the
voxels' reference values of Sz and STz — PCA(50) of the data low-passed at `lowpass` — and train nothing). Every other key is a
DualContrast config field (e.g. z_neg_others, lam). Columns: the epoch means of the loss terms; cos_T = mean cos(c(x), c(T(x))) (posterior
means, eval mode, fresh T); cos_same / cos_other = mean cos between c of different particles of the same / of other
classes; ari = `disentanglement.cluster_ari` on c (GMM, K = 4); ari_std = the same on standardised c; dcc = D(c|c).
z columns: zcos_T = mean |cos(z(x), z(T(x)))|, zcos_oth = mean |cos| between z of different particles (1: collapsed, one
direction for all), dcz = D(c|z), Sz = `rotation_predictivity(z, rotations)` (absolute pose; 0 here even for PCA of the
voxels), STz / STc = held-out linear R² of a known applied rotation (each ZYZ angle uniform in ±20°, 9 matrix entries)
from the change of z / c it causes, z(R x) − z(x) (PCA(50) of the low-passed voxels: 0.49; ±90°: 0).
Recorded results: benchmarks/README.md (DualContrast section).
"""
import json, os, sys, time
import numpy as np
import torch
import torch.nn.functional as F
from cryo_disent.clustering import adjusted_rand, cluster_latents
from cryo_disent.core import seed_everything
from cryo_disent.data import VolumeDataset
from cryo_disent.disentanglement import cluster_ari, d_score
from cryo_disent.models.base import StepContext
from cryo_disent.models.dualcontrast import DualContrast, random_rotation_transform


def codes_of_pair(m, x, key):
    "The model's code `key` of every x and of its T(x) (eval mode, batches of 64)."
    m.eval()
    with torch.no_grad():
        c = torch.cat([m.embed(x[i:i + 64])[key] for i in range(0, len(x), 64)])
        tx = torch.cat([random_rotation_transform(x[i:i + 64], m.config.max_angle)[0] for i in range(0, len(x), 64)])
        ct = torch.cat([m.embed(tx[i:i + 64])[key] for i in range(0, len(x), 64)])
    m.train()
    return c, ct


def cosines(m, x, y):
    "cos_T, cos_same, cos_other of the content means."
    c, ct = codes_of_pair(m, x, "content")
    n = F.normalize(c, dim=1)
    s = n @ n.T
    same = torch.as_tensor(y[:, None] == y[None, :])
    off = ~torch.eye(len(y), dtype=torch.bool)
    return (F.cosine_similarity(c, ct).mean().item(), s[same & off].mean().item(), s[~same].mean().item(), c.numpy())


def applied_rotation_r2(m, x, deg=20.0, seed=123):
    "STz, STc: held-out linear R² of an applied rotation (ZYZ angles uniform in ±deg) from z(R x) − z(x) and c(R x) − c(x)."
    import math
    from sklearn.linear_model import LinearRegression
    from sklearn.model_selection import KFold, cross_val_predict
    from cryo_disent.geometry import euler_zyz_to_matrix, warp
    g = torch.Generator().manual_seed(seed)
    A, dz, dc = [], [], []
    m.eval()
    with torch.no_grad():
        for i in range(0, len(x), 64):
            xb = m.prep(x[i:i + 64])
            R = euler_zyz_to_matrix((torch.rand(len(xb), 3, generator=g) * 2 - 1) * math.radians(deg))
            e0, e1 = m._encode(xb), m._encode(m.prep(warp(xb, R)))
            A.append(R.reshape(len(xb), 9))
            dz.append(e1["transformation"] - e0["transformation"])
            dc.append(e1["content"] - e0["content"])
    m.train()
    A = torch.cat(A).numpy()
    def r2(X):
        p = cross_val_predict(LinearRegression(), torch.cat(X).numpy(), A, cv=KFold(3, shuffle=True, random_state=0))
        return float(1 - ((p - A) ** 2).sum() / ((A - A.mean(0)) ** 2).sum())
    return r2(dz), r2(dc)


def z_stats(m, x, y, rot):
    "zcos_T, zcos_oth, dcz, Sz, STz, STc."
    from cryo_disent.disentanglement import rotation_predictivity
    z, zt = codes_of_pair(m, x, "transformation")
    n = F.normalize(z, dim=1)
    off = ~torch.eye(len(z), dtype=torch.bool)
    st_z, st_c = applied_rotation_r2(m, x)
    return dict(zcos_T=round(F.cosine_similarity(z, zt).abs().mean().item(), 3), zcos_oth=round((n @ n.T)[off].abs().mean().item(), 3),
                dcz=round(d_score(z.numpy(), y), 3), Sz=round(rotation_predictivity(z.numpy(), rot), 3) if rot is not None else None,
                STz=round(st_z, 3), STc=round(st_c, 3))


def voxel_reference(x, rot, cutoff, deg=20.0, seed=123):
    "Sz and STz of PCA(50) of the low-passed voxels (pooled, and Sz within each class is printed by the caller)."
    import math
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LinearRegression
    from sklearn.model_selection import KFold, cross_val_predict
    from cryo_disent.disentanglement import rotation_predictivity
    from cryo_disent.fourier import lowpass
    from cryo_disent.geometry import euler_zyz_to_matrix, warp
    lp = (lambda v: lowpass(v, 1 / cutoff)) if cutoff else (lambda v: v)
    xl = lp(x)
    flat = lambda v: v.reshape(len(v), -1).numpy()
    g = torch.Generator().manual_seed(seed)
    R = euler_zyz_to_matrix((torch.rand(len(x), 3, generator=g) * 2 - 1) * math.radians(deg))
    tx = lp(warp(xl, R))
    pca = PCA(50).fit(np.r_[flat(xl), flat(tx)])
    d = pca.transform(flat(tx)) - pca.transform(flat(xl))
    A = R.reshape(len(x), 9).numpy()
    p = cross_val_predict(LinearRegression(), d, A, cv=KFold(3, shuffle=True, random_state=0))
    return dict(Sz_voxels=round(rotation_predictivity(PCA(50).fit_transform(flat(xl)), rot), 3),
                STz_voxels=round(float(1 - ((p - A) ** 2).sum() / ((A - A.mean(0)) ** 2).sum()), 3))


def patch_restd(m):
    "Harness-only `restd`: per-particle standardisation after the model's low-pass, for x and T(x)."
    std = lambda v: (v - v.mean(tuple(range(1, v.ndim)), keepdim=True)) / (v.std(tuple(range(1, v.ndim)), keepdim=True) + 1e-6)
    prep, transform = m.prep, m.transform
    m.prep = lambda v: std(prep(v))
    m.transform = lambda v: std(transform(v))


def patch_rnorm(m):
    "Harness-only `rnorm`: the reconstruction terms divided by the variance of the prepared batch."
    loss = m.loss
    def scaled(batch, out, epoch=0):
        mo = loss(batch, out, epoch)
        v = out["x_in"].var().detach() + 1e-8
        mo.loss = mo.loss + (mo.terms["recon"] + mo.terms["recon_t"]) * (1 / v - 1)
        return mo
    m.loss = scaled


def main(folder, cfg):
    cfg = dict(cfg)
    epochs, bs, seed, n = cfg.pop("epochs", 4), cfg.pop("batch_size", 32), cfg.pop("seed", 0), cfg.pop("n", None)
    save = cfg.pop("save", None)
    prefilter = cfg.pop("prefilter", 0)
    crop = cfg.pop("crop", 0)
    restd, rnorm = cfg.pop("restd", False), cfg.pop("rnorm", False)
    voxels = cfg.pop("voxels", False)
    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    ds = VolumeDataset.from_folder(folder)
    idx = range(len(ds)) if n is None else range(n)
    x = torch.stack([ds[i]["x"] for i in idx])
    y = ds.labels.numpy()[: len(x)]
    rot = ds.rotations.numpy()[: len(x)] if ds.rotations is not None else None
    if crop:  # harness-only: Fourier-crop to crop³ and re-standardise (App. A.4 preprocessing), as harmony_experiments.py
        from cryo_disent.fourier import fourier_crop
        x = fourier_crop(x, crop)
        x = (x - x.mean((2, 3, 4), keepdim=True)) / x.std((2, 3, 4), keepdim=True)
    if prefilter:  # harness-only: low-pass the data once before everything (cycles/voxel)
        from cryo_disent.fourier import lowpass
        x = lowpass(x, 1 / prefilter)
    if voxels:
        print(json.dumps(voxel_reference(x, rot, cfg.get("lowpass", 0))), flush=True)
        return
    seed_everything(seed)
    m = DualContrast(input_shape=tuple(x.shape[1:]), **cfg)
    if restd: patch_restd(m)
    if rnorm: patch_rnorm(m)
    opts = m.configure_optimizers()
    ctx = StepContext(forward=m, backward=lambda l: l.backward(), optimizers=opts, epoch=0)
    print(json.dumps(dict(folder=folder, n=len(x), config=cfg, epochs=epochs, batch_size=bs, restd=restd, rnorm=rnorm)), flush=True)
    g = torch.Generator().manual_seed(seed)
    for ep in range(epochs):
        t0 = time.perf_counter()
        ctx.epoch = ep
        sums = {}
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x) - 1, bs):
            b = dict(x=x[perm[i:i + bs]])
            mo = m.training_step(b, ctx)
            for k, v in mo.terms.items(): sums[k] = sums.get(k, 0.0) + float(v.detach())
        nb = -(-len(x) // bs)
        cos_t, cos_s, cos_o, c = cosines(m, x, y)
        row = {k: round(v / nb, 4) for k, v in sums.items()}
        cs = (c - c.mean(0)) / (c.std(0) + 1e-8)
        row.update(cos_T=round(cos_t, 3), cos_same=round(cos_s, 3), cos_other=round(cos_o, 3),
                   ari=round(cluster_ari(c, y), 3), ari_std=round(cluster_ari(cs, y), 3),
                   ari_pca4=round(adjusted_rand(y, cluster_latents(cs, 4, reduce="pca", n_components=4)), 3),
                   ari_km=round(cluster_ari(cs, y, method="kmeans"), 3), dcc=round(d_score(c, y), 3),
                   **z_stats(m, x, y, rot), s=round(time.perf_counter() - t0, 1))
        print(ep, json.dumps(row), flush=True)
    if save: np.savez(save, content=c, labels=y)


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else {})
