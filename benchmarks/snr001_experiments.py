"""Where the class information sits at SNR 0.01 (issue 7), and what multi-reference classification recovers.

    PYTHONPATH=$PWD python benchmarks/snr001_experiments.py simulate runs/snr001_500 500    # seed004, 32³, SNR 0.01, MWA 30°
    PYTHONPATH=$PWD python benchmarks/snr001_experiments.py profiles runs/snr001_500         # radial profiles → GMM(4): ARI per cut-off
    PYTHONPATH=$PWD python benchmarks/snr001_experiments.py oracle runs/snr001_500 400 0.1,0.15,0.25
    PYTHONPATH=$PWD python benchmarks/snr001_experiments.py classify RUN DATA [ROUNDS [K]]  # seeded by RUN's clusters (or its latents at K)

`profiles`: the spherical average of every low-passed particle about the box centre (rotation-invariant), PCA(6) → GMM(4).
`oracle`: N random particles searched (`refine.refine_poses`, 2000 global rotations, local 20°/8°) against each of the
true maps (contrast-flipped, as the particles) at each cut-off (cycles/voxel), assigned to the best score.
`classify`: `refine.classify_with_averages` one round at a time from RUN's clusters (references: the class averages with
RUN's refined poses), printing ARI per round. Results: benchmarks/README.md, "The work box, and SNR 0.01".
"""
import json, sys, time
import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture
from cryo_disent.averaging import class_averages, dataset_wedge
from cryo_disent.data import VolumeDataset
from cryo_disent.fourier import lowpass
from cryo_disent.refine import classify_with_averages, refine_poses


def simulate(out, n_per_class):
    from cryo_disent.simulate import simulate_dataset
    simulate_dataset("seed004", out, n_per_class=int(n_per_class), box=32, snr=0.01, mwa=30, seed=0, overwrite=True, progress=False)


def profiles(data):
    ds = VolumeDataset.from_folder(data)
    x = torch.stack([ds[i]["x"] for i in range(len(ds))])[:, 0]
    y, n = ds.labels.numpy(), x.shape[-1]
    g = torch.stack(torch.meshgrid(*(torch.arange(n, dtype=torch.float32),) * 3, indexing="ij"))
    r = ((g - (n - 1) / 2) ** 2).sum(0).sqrt().round().long().flatten()
    counts = torch.bincount(r).float().clamp_min(1)
    for fc in (0.06, 0.09, 0.126):
        prof = torch.zeros(len(x), int(r.max()) + 1).index_add_(1, r, lowpass(x, 1 / fc).flatten(1)) / counts
        f = prof.numpy()[:, 1:n // 2]
        f = (f - f.mean(0)) / (f.std(0) + 1e-8)
        z = PCA(6, random_state=0).fit_transform(f)
        print(json.dumps(dict(cutoff=fc, ari=round(adjusted_rand_score(y, GaussianMixture(4, n_init=5, random_state=0).fit_predict(z)), 3))))


def oracle(data, n, cutoffs):
    ds = VolumeDataset.from_folder(data)
    n = int(n)
    idx = np.random.default_rng(0).choice(len(ds), n, replace=False)
    x = torch.stack([ds[int(i)]["x"] for i in idx])
    y = ds.labels.numpy()[idx]
    refs = torch.from_numpy(np.load(f"{data}/references.npy")).float()
    refs = -(refs - refs.mean((1, 2, 3), keepdim=True)) / refs.std((1, 2, 3), keepdim=True)  # particles have the opposite contrast
    w = dataset_wedge(ds)
    mwa = None if w is None else w[idx]
    for c in (float(v) for v in cutoffs.split(",")):
        t0 = time.time()
        S = np.stack([refine_poses(x, refs, np.full(n, k), mwa, cutoff=c, n_global=2000, local_steps=(20.0, 8.0), n_rounds=1)["score"].numpy()
                      for k in range(len(refs))], 1)
        pred = S.argmax(1)
        print(json.dumps(dict(cutoff=c, ari=round(adjusted_rand_score(y, pred), 3), accuracy=round(float((pred == y).mean()), 3),
                              seconds=round(time.time() - t0))), flush=True)


def classify(run, data, rounds=3, k=None):
    ds = VolumeDataset.from_folder(data)
    e = dict(np.load(f"{run}/embedding.npz"))
    y = e["label"]
    mwa = dataset_wedge(ds)
    if k is None:  # RUN's clusters; references: their class averages with RUN's refined poses
        ids = np.unique(e["cluster"])
        lab = np.searchsorted(ids, e["cluster"])
        refs = class_averages(ds, lab, e["rotation"], e["translation"], wedge=mwa)[0]
    else:  # the latents clustered again at K; references: the decoded templates of those clusters
        from cryo_disent.clustering import cluster_latents
        from cryo_disent.evaluate import templates_from_clusters
        from cryo_disent.models.base import load_model
        lab = cluster_latents(e["content"], int(k), reduce="pca", n_components=4, seed=0)
        ids = np.unique(lab)
        refs = templates_from_clusters(load_model(f"{run}/model.pt"), e["content"], lab)[:, 0].cpu()
    print(json.dumps(dict(round=0, ari=round(adjusted_rand_score(y, lab), 3))), flush=True)
    t0 = time.time()
    for r in range(int(rounds)):
        c = classify_with_averages(ds, refs, lab, 1, mwa, cutoff=0.25, n_global=2000, local_steps=(20.0, 8.0), n_rounds=1)
        lab, refs = c["labels"].numpy(), c["references"]
        print(json.dumps(dict(round=r + 1, ari=round(adjusted_rand_score(y, lab), 3), reassigned=round(c["reassigned"][0], 3),
                              sizes=np.bincount(lab, minlength=len(ids)).tolist(), seconds=round(time.time() - t0))), flush=True)


if __name__ == "__main__":
    torch.set_num_threads(2)
    dict(simulate=simulate, profiles=profiles, oracle=oracle, classify=classify)[sys.argv[1]](*sys.argv[2:])
