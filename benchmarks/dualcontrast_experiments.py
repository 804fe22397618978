"""Diagnostics of DualContrast on seed004 volumes (issue 8's unmet 3D target): per-epoch loss terms, whether c is
rotation-invariant (cosine of c(x) with c(T(x)), with c of the same class and of other classes), and the ARI of c.

Usage (from the repository root, PYTHONPATH=$PWD; data folders from `simulate_dataset`, e.g. `make demo`'s runs/demo/data):
  python benchmarks/dualcontrast_experiments.py runs/clean32 '{"epochs":4,"latent_dim":50,"lam":3}'
  python benchmarks/dualcontrast_experiments.py runs/demo/data '{"epochs":6,"latent_dim":50,"lam":3,"lowpass":0.126}'
Harness-only keys: epochs, batch_size (32), seed (0), n (first n particles, default all), crop (Fourier-crop to
this box first), prefilter (low-pass the data once, cycles/voxel), save (an .npz for c and the labels). Every other key is a
DualContrast config field. Columns: the epoch means of the loss terms; cos_T = mean cos(c(x), c(T(x))) (posterior
means, eval mode, fresh T); cos_same / cos_other = mean cos between c of different particles of the same / of other
classes; ari = `disentanglement.cluster_ari` on c (GMM, K = 4); ari_std = the same on standardised c; dcc = D(c|c).
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


def cosines(m, x, y):
    "cos_T, cos_same, cos_other of the content means."
    m.eval()
    with torch.no_grad():
        c = torch.cat([m.embed(x[i:i + 64])["content"] for i in range(0, len(x), 64)])
        tx = torch.cat([random_rotation_transform(x[i:i + 64], m.config.max_angle)[0] for i in range(0, len(x), 64)])
        ct = torch.cat([m.embed(tx[i:i + 64])["content"] for i in range(0, len(x), 64)])
    m.train()
    n = F.normalize(c, dim=1)
    s = n @ n.T
    same = torch.as_tensor(y[:, None] == y[None, :])
    off = ~torch.eye(len(y), dtype=torch.bool)
    return (F.cosine_similarity(c, ct).mean().item(), s[same & off].mean().item(), s[~same].mean().item(), c.numpy())


def main(folder, cfg):
    cfg = dict(cfg)
    epochs, bs, seed, n = cfg.pop("epochs", 4), cfg.pop("batch_size", 32), cfg.pop("seed", 0), cfg.pop("n", None)
    save = cfg.pop("save", None)
    prefilter = cfg.pop("prefilter", 0)
    crop = cfg.pop("crop", 0)
    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    ds = VolumeDataset.from_folder(folder)
    idx = range(len(ds)) if n is None else range(n)
    x = torch.stack([ds[i]["x"] for i in idx])
    y = ds.labels.numpy()[: len(x)]
    if crop:  # harness-only: Fourier-crop to crop³ and re-standardise (App. A.4 preprocessing), as harmony_experiments.py
        from cryo_disent.fourier import fourier_crop
        x = fourier_crop(x, crop)
        x = (x - x.mean((2, 3, 4), keepdim=True)) / x.std((2, 3, 4), keepdim=True)
    if prefilter:  # harness-only: low-pass the data once before everything (cycles/voxel)
        from cryo_disent.fourier import lowpass
        x = lowpass(x, 1 / prefilter)
    seed_everything(seed)
    m = DualContrast(input_shape=tuple(x.shape[1:]), **cfg)
    opts = m.configure_optimizers()
    ctx = StepContext(forward=m, backward=lambda l: l.backward(), optimizers=opts, epoch=0)
    print(json.dumps(dict(folder=folder, n=len(x), config=cfg, epochs=epochs, batch_size=bs)), flush=True)
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
                   s=round(time.perf_counter() - t0, 1))
        print(ep, json.dumps(row), flush=True)
    if save: np.savez(save, content=c, labels=y)


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else {})
