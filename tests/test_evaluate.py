"""Evaluation against every registered model: `embed_dataset` → `evaluate_embedding` → `templates_from_clusters` →
`template_auc_fsc` must work on the real model contract (models.base), and the metrics must be JSON-ready.
The metric maths itself is tested in nbs/30_evaluate.ipynb."""
import json
import math
import numpy as np
import pytest
import torch
from cryo_disent.core import get_model_class, model_names
from cryo_disent.evaluate import (POSE_KEYS, embed_dataset, evaluate_embedding, hungarian_accuracy, pose_error,
                                  template_auc_fsc, templates_from_clusters)
from cryo_disent.geometry import random_rotations, warp

SHAPE = (1, 16, 16, 16)
N = 24


class TwoShapes(torch.utils.data.Dataset):
    "Two classes (one blob vs two blobs), each randomly rotated; items follow the dataset contract of CONVENTIONS.md."
    def __init__(self, n=N, seed=0):
        g = torch.Generator().manual_seed(seed)
        c = torch.arange(16.0) - 7.5
        z, y, x = torch.meshgrid(c, c, c, indexing="ij")
        blob = lambda px, py, pz, s: torch.exp(-((x - px) ** 2 + (y - py) ** 2 + (z - pz) ** 2) / (2 * s ** 2))
        refs = torch.stack([blob(2, 0, 0, 2.5), blob(-3, 1, 0, 2.0) + blob(3, -1, 2, 1.5)])
        self.label = torch.arange(n) % 2
        self.R = random_rotations(n, generator=g)
        self.x = warp(refs[self.label][:, None], self.R) + 0.05 * torch.randn(n, *SHAPE, generator=g)

    def __len__(self): return len(self.x)

    def __getitem__(self, i):
        return dict(x=self.x[i], label=self.label[i], index=torch.tensor(i), rotation=self.R[i], shift=torch.zeros(3))


def _models():
    return [n for n in model_names() if 3 in getattr(get_model_class(n), "supported_ndims", (3,))]


@pytest.mark.parametrize("name", _models())
def test_evaluate_registered_model(name):
    torch.manual_seed(0)
    cls = get_model_class(name)
    model = cls(cls.tiny_config(SHAPE))
    ds = TwoShapes()
    emb = embed_dataset(model, ds, batch_size=8)
    assert emb["content"].shape[0] == N and emb["content"].ndim == 2
    np.testing.assert_array_equal(emb["index"], np.arange(N))
    np.testing.assert_array_equal(emb["label"], np.arange(N) % 2)
    assert emb["true_rotation"].shape == (N, 3, 3)
    if "rotation" in emb:
        assert emb["rotation"].shape == (N, 3, 3)

    met = evaluate_embedding(emb, k=2, seed=0)
    met = json.loads(json.dumps(met))  # JSON-ready
    for key in ("ari", "accuracy", "f1_macro"):
        assert math.isfinite(met[key])
    assert 0.5 <= met["accuracy"] <= 1.0  # two classes: Hungarian accuracy is never below 1/2
    if any(k in emb for k in POSE_KEYS):
        assert {"d_content", "d_pose", "sap"} <= set(met)
    if "rotation" in emb:
        assert 0.0 <= met["pose_error_mean_deg"] <= 180.0

    labels = np.arange(N) % 2
    T = templates_from_clusters(model, emb["content"], labels)
    assert tuple(T.shape) == (2, *SHAPE)
    auc = template_auc_fsc(T[0], ds.x[0], n_rotations=50)
    assert -1.0 <= auc <= 1.0


def test_hungarian_and_pose_on_dataset_truth():
    "The ground truth the dataset carries scores perfectly against itself (sanity of the key plumbing)."
    ds = TwoShapes()
    R = torch.stack([ds[i]["rotation"] for i in range(len(ds))]).double()
    assert pose_error(R, R)["mean"] < 1e-3
    assert hungarian_accuracy(ds.label, 1 - ds.label)[0] == 1.0


def test_umap_then_gmm_clusters_blobs():
    """The SE3-MCL recipe (UMAP to 2D, then GMM) separates well-separated latent blobs (numba JIT: ~20 s once)."""
    import numpy as np
    from cryo_disent.evaluate import adjusted_rand, cluster_latents
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 8)) * 6
    z = np.concatenate([c + rng.normal(size=(60, 8)) for c in centres])
    y = np.repeat(np.arange(4), 60)
    assert adjusted_rand(y, cluster_latents(z, 4, reduce="umap", n_components=2, seed=0)) > 0.95
