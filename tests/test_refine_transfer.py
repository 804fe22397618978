"""The template pose search (`refine.refine_poses`) through each particle's transfer, on simulated particles that
differ in tilt range, defocus and dose (`seed004_tomo`), against the wedge path on the same data."""
import json

import numpy as np
import pytest
import torch

from cryo_disent.analysis.evaluate import pose_errors
from cryo_disent.analysis.refine import project, refine_poses, reference_symmetries, search_copies, search_size
from cryo_disent.analysis.refine_averages import refine_with_averages
from cryo_disent.analysis.refine_transfer import search_transfers
from cryo_disent.app.scoring import _symmetry
from cryo_disent.data.datasets import VolumeDataset
from cryo_disent.physics.geometry import warp
from cryo_disent.physics.simulate import simulate_dataset

pytestmark = pytest.mark.slow  # simulation and pose searches: ~1 min on 2 cores
FAST = dict(n_global=2000, local_steps=(20.0, 8.0, 3.0), n_rounds=1)


@pytest.fixture(scope="module")
def tomo(tmp_path_factory):
    "4 classes × 8 particles at 24³, SNR 0.1, each particle its tilt range, defocus and dose; true maps as templates."
    f = simulate_dataset("seed004_tomo", tmp_path_factory.mktemp("tomo") / "d", n_per_class=8, box=24, snr=0.1, seed=1,
                         progress=False)
    ds = VolumeDataset.from_folder(f)
    refs = torch.from_numpy(np.load(f / "references.npy")) * json.loads((f / "dataset.json").read_text())["meta"]["contrast"]
    sym = _symmetry(f, None)
    sym = {**sym, **{c: v.numpy() for c, v in reference_symmetries(sym, refs).items()}}
    return ds, refs, sym


def _errors(ds, r, sym) -> np.ndarray:
    "Symmetry-aware pose error per particle (degrees), as `evaluate` scores it (per-class frame)."
    emb = dict(rotation=r["rotation"].numpy(), true_rotation=ds.rotations.numpy(), label=ds.labels.numpy())
    return pose_errors(emb, symmetry=sym)["rotation_deg"]


def test_the_transfer_path_recovers_poses_at_least_as_well_as_the_wedge_path(tomo):
    ds, refs, sym = tomo
    assert ds.varying_transfer
    y = ds.labels.numpy()
    own = refine_poses(ds, refs, y, cutoff=0.25, **FAST)  # transfer="auto": each particle's own
    wedge = refine_poses(ds, refs, y, mwa=float(ds.table.mwa.mean()), transfer=None, cutoff=0.25, **FAST)
    e_own, e_wedge = _errors(ds, own, sym), _errors(ds, wedge, sym)  # here 7.0° and 8.9° (classwise, all classes)
    for c in (0, 2):  # the ribosome and erythrocruorin: unmistakable at this size (2–4° both ways)
        assert np.median(e_own[y == c]) < 6, (c, e_own[y == c])
    assert np.median(e_own) <= np.median(e_wedge) + 1.0, (np.median(e_own), np.median(e_wedge))
    assert float((own["translation"] - ds.shifts).norm(dim=1).median()) < 0.5
    assert not torch.equal(own["rotation"], wedge["rotation"])  # "auto" did search through the transfers


def test_the_score_is_the_correlation_through_each_particles_transfer(tomo):
    "The contract of `score`: the normalised correlation of the particle with its posed template seen through W = ±H."
    ds, refs, _ = tomo
    y = ds.labels.numpy()
    r = refine_poses(ds, refs, y, cutoff=0.2, n_global=300, local_steps=(8.0,), n_rounds=1)
    n, m = 24, search_size(24, 0.2)
    cm = 0.2 * n / m
    W = search_transfers(ds, m, cm)
    xs = search_copies(torch.stack([ds[i]["x"] for i in range(len(ds))]), m, cm)
    P = project(warp(search_copies(refs[:, None], m, cm)[y], r["rotation"], r["translation"] * (m / n)), W).flatten(1)
    X = xs.flatten(1)
    expected = (X * P).sum(1) / (X.norm(dim=1) * P.norm(dim=1))
    torch.testing.assert_close(r["score"], expected, atol=1e-4, rtol=1e-4)
    assert float(r["score"].median()) > 0.1


def test_transfer_none_is_the_wedge_path(tomo):
    "On the dataset with `transfer=None`: the same poses, shifts and scores as the same particles given as a tensor."
    ds, refs, _ = tomo
    y = ds.labels.numpy()
    x = torch.stack([ds[i]["x"] for i in range(len(ds))])
    mwa = ds.table.mwa.to_numpy()
    a = refine_poses(ds, refs, y, mwa=mwa, transfer=None, n_global=500, local_steps=(8.0,), n_rounds=1)
    b = refine_poses(x, refs, y, mwa=mwa, n_global=500, local_steps=(8.0,), n_rounds=1)
    for k in ("rotation", "translation", "score"):
        assert torch.equal(a[k], b[k]), k


def test_refinement_with_averages_follows_the_transfer_rule(tomo, monkeypatch):
    "Averages of a transfer-path refinement are CTF-corrected (`wedge='auto'`); of the wedge path, wedge-weighted."
    import cryo_disent.analysis.averaging as averaging
    ds, refs, _ = tomo
    seen, real = [], averaging.class_averages
    monkeypatch.setattr(averaging, "class_averages", lambda *a, **k: seen.append(k["wedge"]) or real(*a, **k))
    kw = dict(n_global=200, local_steps=(8.0,), n_rounds=1)
    refine_with_averages(ds, refs, ds.labels.numpy(), rounds=2, mwa=40.0, **kw)
    refine_with_averages(ds, refs, ds.labels.numpy(), rounds=2, mwa=40.0, transfer=None, **kw)
    assert seen == ["auto", 40.0]


def test_a_subset_of_a_dataset_is_searched_through_its_own_particles_transfers(tomo):
    ds, _, _ = tomo
    idx = np.array([5, 0, 17, 30])
    torch.testing.assert_close(search_transfers(ds.subset(idx), 9, 0.4), search_transfers(ds, 9, 0.4)[idx])
    assert search_transfers(ds, 9, 0.4, transfer=None) is None


def test_ctf_premultiplied_particles_are_searched_through_h_squared(tomo, tmp_path):
    """Particles written as H·X with `ctf_premultiplied`: each is searched through band × H² (not ±H), its score is the
    correlation through that weight, and the poses are found as on the plain particles."""
    from cryo_disent.data.datasets import save_dataset

    ds, refs, sym = tomo
    y = ds.labels.numpy()
    x = torch.stack([ds[i]["x"][0] for i in range(len(ds))])
    H = ds.transfer(np.arange(len(ds)))
    xp = torch.fft.irfftn(torch.fft.rfftn(x, dim=(-3, -2, -1)) * H, s=x.shape[-3:], dim=(-3, -2, -1))
    meta = json.loads((ds.path / "dataset.json").read_text())["meta"]
    pre = VolumeDataset.from_folder(save_dataset(tmp_path / "pre", xp.numpy(), ds.table, ctf_premultiplied=True, **meta))
    assert pre.ctf_premultiplied and pre.varying_transfer and (ds.contrast, pre.contrast) == (-1, 1)  # H² V: bright
    refs = refs * ds.contrast * pre.contrast  # the clean maps at the premultiplied particles' contrast
    n, m = 24, search_size(24, 0.25)
    cm = 0.25 * n / m
    W = search_transfers(pre, m, cm)
    torch.testing.assert_close(W, search_transfers(pre, m, cm, premultiplied=False) ** 2, atol=1e-6, rtol=1e-5)
    assert not torch.allclose(W, search_transfers(pre, m, cm, premultiplied=False))  # H², not the plain path's ±H
    r = refine_poses(pre, refs, y, cutoff=0.25, **FAST)
    xs = search_copies(xp, m, cm)
    P = project(warp(search_copies(refs[:, None], m, cm)[y], r["rotation"], r["translation"] * (m / n)), W).flatten(1)
    X = xs.flatten(1)
    torch.testing.assert_close(r["score"], (X * P).sum(1) / (X.norm(dim=1) * P.norm(dim=1)), atol=1e-4, rtol=1e-4)
    e = _errors(pre, r, sym)
    for c in (0, 2):  # as on the plain particles: the ribosome and erythrocruorin within a few degrees
        assert np.median(e[y == c]) < 6, (c, e[y == c])
