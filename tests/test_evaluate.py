"""Evaluation against every registered model: `embed_dataset` → `evaluate_embedding` → `templates_from_clusters` →
`template_auc_fsc` must work on the real model contract (models.base), and the metrics must be JSON-ready.
The metric maths itself is tested in nbs/50_analysis.clustering, 51_analysis.disentanglement, 52_analysis.alignment and 53_analysis.evaluate."""
import json
import math
import numpy as np
import pytest
import torch
from cryo_disent.models.registry import get_model_class, model_names
from cryo_disent.analysis.alignment import pose_error, template_auc_fsc
from cryo_disent.analysis.clustering import adjusted_rand, cluster_latents, hungarian_accuracy
from cryo_disent.analysis.evaluate import embed_dataset, evaluate_embedding, templates_from_clusters
from cryo_disent.physics.geometry import random_rotations, warp

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

    assert set(cls.pose_keys) <= set(emb), f"{name}: declared pose keys {cls.pose_keys} missing from the embedding"
    met = evaluate_embedding(emb, k=2, seed=0, pose_keys=cls.pose_keys)  # the model's own declaration
    met = json.loads(json.dumps(met))  # JSON-ready
    for key in ("ari", "accuracy", "f1_macro"):
        assert math.isfinite(met[key])
    # an untrained model clusters at chance (accuracy 0.50-0.71 here), so no floor on the scores: they must be the scores
    # of the clustering itself, and the ground truth as the clustering must score perfectly
    pred = cluster_latents(emb["content"], 2, seed=0)
    assert met["accuracy"] == pytest.approx(hungarian_accuracy(emb["label"], pred)[0])
    assert met["ari"] == pytest.approx(adjusted_rand(emb["label"], pred))
    truth = evaluate_embedding(emb, k=2, labels_pred=1 - emb["label"], disentanglement=False)
    assert truth["accuracy"] == 1.0 and truth["ari"] == pytest.approx(1.0) and truth["f1_macro"] == pytest.approx(1.0)
    assert ({"d_content", "d_pose", "sap"} <= set(met)) == bool(cls.pose_keys)  # a pose score exactly where a pose is declared
    assert evaluate_embedding(emb, k=2, seed=0, disentanglement=False)["ari"] == met["ari"]  # default: every model's pose keys
    if "rotation" in emb:  # untrained: ~107°; the true poses in place of the model's: 0
        assert met["pose_error_mean_deg"] == pytest.approx(pose_error(emb["rotation"], emb["true_rotation"])["mean"])
        assert evaluate_embedding({**emb, "rotation": emb["true_rotation"]}, k=2, disentanglement=False)["pose_error_mean_deg"] < 1e-3

    labels = np.arange(N) % 2
    T = templates_from_clusters(model, emb["content"], labels)
    assert tuple(T.shape) == (2, *SHAPE)
    auc = template_auc_fsc(T[0], ds.x[0], n_rotations=50)
    assert math.isfinite(float(auc))  # an untrained template scores anywhere near 0 (-0.14..0.24 here); the metric: nbs/52_analysis.alignment


def test_hungarian_and_pose_on_dataset_truth():
    "The ground truth the dataset carries scores perfectly against itself (sanity of the key plumbing)."
    ds = TwoShapes()
    R = torch.stack([ds[i]["rotation"] for i in range(len(ds))]).double()
    assert pose_error(R, R)["mean"] < 1e-3
    assert hungarian_accuracy(ds.label, 1 - ds.label)[0] == 1.0


@pytest.mark.slow
def test_umap_then_gmm_clusters_blobs():
    """The SE3-MCL recipe (UMAP to 2D, then GMM) separates well-separated latent blobs (numba JIT: ~20 s once)."""
    import numpy as np
    from cryo_disent.analysis.clustering import adjusted_rand, cluster_latents
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 8)) * 6
    z = np.concatenate([c + rng.normal(size=(60, 8)) for c in centres])
    y = np.repeat(np.arange(4), 60)
    assert adjusted_rand(y, cluster_latents(z, 4, reduce="umap", n_components=2, seed=0)) > 0.95


# ---- symmetry-aware pose error --------------------------------------------------------------------------------------
from cryo_disent.analysis.alignment import align_volume, frame_alignment, pose_error_per_class  # noqa: E402
from cryo_disent.physics.fourier import auc_fsc  # noqa: E402
from cryo_disent.physics.geometry import axis_angle_to_matrix, geodesic_angle, symmetry_group  # noqa: E402


def _rot(axis, deg):
    a = torch.tensor(axis, dtype=torch.float64)
    return axis_angle_to_matrix(a / a.norm() * math.radians(deg))


@pytest.mark.parametrize("sym", ["C4", "D6", "T", "O", "I"])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pose_error_symmetry_mates_and_frame(sym, side):
    g = torch.Generator().manual_seed(11)
    S = symmetry_group(sym, torch.float64)
    Rt = random_rotations(300, generator=g, dtype=torch.float64)
    Si = S[torch.randint(0, len(S), (300,), generator=g)]
    F0 = _rot([0.2, -1.0, 0.7], 63.0)
    pred = Rt @ Si @ F0.T if side == "right" else F0.T @ Rt @ Si
    e = pose_error(pred, Rt, side=side, symmetry=sym)
    assert e["mean"] < 1e-4, e["mean"]
    assert pose_error(pred, Rt, side=side)["mean"] > 20                       # C1 sees the symmetry mates as errors
    # the frame is the true one up to a symmetry element (right) or exactly (left: G R_p must equal R_t S)
    Gh = torch.as_tensor(e["G"])
    d = geodesic_angle(Gh[None] @ S, F0).min() if side == "right" else geodesic_angle(Gh, F0)
    assert math.degrees(float(d)) < 1e-4


def test_pose_error_symmetry_with_noise_matches_bruteforce():
    "With 3° noise the aligned error is ~3°, and the error equals an explicit loop over the 60 icosahedral elements."
    from scipy.spatial.transform import Rotation
    g = torch.Generator().manual_seed(5)
    S = symmetry_group("I", torch.float64)
    Rt = random_rotations(400, generator=g, dtype=torch.float64)
    axes = torch.nn.functional.normalize(torch.randn(400, 3, generator=g, dtype=torch.float64), dim=-1)
    noise = axis_angle_to_matrix(axes * math.radians(3.0))
    F0 = _rot([1.0, 0.3, -0.2], 110.0)
    pred = Rt @ S[torch.randint(0, 60, (400,), generator=g)] @ noise @ F0.T
    e = pose_error(pred, Rt, symmetry="I")
    assert 2.7 < e["mean"] <= 3.0 + 1e-6
    Gh = e["G"]
    brute = [min((Rotation.from_matrix(p @ Gh).inv() * Rotation.from_matrix(t @ s)).magnitude() for s in S.numpy())
             for p, t in zip(pred.numpy()[:30], Rt.numpy()[:30])]
    np.testing.assert_allclose(e["errors"][:30], np.degrees(brute), atol=1e-8)


def test_pose_error_c1_unchanged():
    "symmetry='C1' is exactly the asymmetric computation (same frame, same errors)."
    g = torch.Generator().manual_seed(2)
    Rt = random_rotations(100, generator=g, dtype=torch.float64)
    pred = Rt @ axis_angle_to_matrix(torch.randn(100, 3, generator=g, dtype=torch.float64) * 0.2)
    a, b = pose_error(pred, Rt), pose_error(pred, Rt, symmetry="C1")
    assert a["mean"] == b["mean"] and np.array_equal(a["G"], b["G"]) and np.array_equal(a["errors"], b["errors"])
    assert np.array_equal(frame_alignment(pred, Rt), frame_alignment(pred, Rt, symmetry="c1"))


def test_pose_error_per_class_and_evaluate_embedding_symmetry():
    g = torch.Generator().manual_seed(3)
    n = 120
    Rt = random_rotations(n, generator=g, dtype=torch.float64)
    y = np.arange(n) % 3
    mates = {0: symmetry_group("D2", torch.float64), 1: symmetry_group("T", torch.float64)}
    pred = Rt.clone()
    for c, S in mates.items():
        idx = torch.as_tensor(np.flatnonzero(y == c))
        pred[idx] = Rt[idx] @ S[torch.randint(0, len(S), (len(idx),), generator=g)]
    sym = {0: "D2", 1: "T"}                                                    # class 2: C1 by default
    pc = pose_error_per_class(pred, Rt, y, symmetry=sym)
    assert max(v["mean"] for v in pc.values()) < 1e-4
    pc1 = pose_error_per_class(pred, Rt, y)
    assert pc1[0]["mean"] > 20 and pc1[1]["mean"] > 20 and pc1[2]["mean"] < 1e-4
    emb = dict(content=np.eye(3)[y] * 5 + np.random.default_rng(0).normal(size=(n, 3)), label=y,
               rotation=pred.numpy(), true_rotation=Rt.numpy())
    met = json.loads(json.dumps(evaluate_embedding(emb, k=3, disentanglement=False, symmetry=sym)))
    assert max(v["mean"] for v in met["pose_error_per_class"].values()) < 1e-3
    assert met["pose_symmetry"] == {"0": "D2", "1": "T"}
    assert met["pose_error_mean_deg"] > 1                                     # mixed groups: the global error uses C1
    met_t = evaluate_embedding(emb, k=3, disentanglement=False, symmetry="T")  # D2 ⊂ T: one group covers both
    assert met_t["pose_error_per_class"]["0"]["mean"] < 1e-3 and met_t["pose_error_per_class"]["1"]["mean"] < 1e-3


# ---- align_volume with translations ---------------------------------------------------------------------------------
def _asym_volume(n=20):
    c = torch.arange(n, dtype=torch.float32) - (n - 1) / 2
    z, y, x = torch.meshgrid(c, c, c, indexing="ij")
    v = torch.zeros(n, n, n)
    for (px, py, pz), s in (((3.5, 1., -0.5), 2.2), ((-2.5, 3., 1.), 1.6), ((0., -3., 3.), 1.3), ((-1., -1., -3.5), 1.0)):
        v += torch.exp(-((x - px) ** 2 + (y - py) ** 2 + (z - pz) ** 2) / (2 * s ** 2))
    return v


def test_align_volume_recovers_rotation_and_shift():
    ref = _asym_volume()
    Q = _rot([-0.4, 0.8, 0.3], 125.0).float()
    s = torch.tensor([1.5, -2.0, 1.0])
    moved = warp(ref[None, None], Q[None], s[None])[0, 0]
    R, t, score, aligned = align_volume(ref, moved, n_rotations=600, seed=1, max_shift=4.0, return_shift=True)
    rot_err = math.degrees(float(geodesic_angle(R.double(), Q.T.double())))
    shift_err = float((t + Q.T @ s).norm())                                    # expected t = -Qᵀ s
    assert rot_err < 3.0 and shift_err < 0.5, (rot_err, shift_err)
    assert torch.allclose(aligned, warp(moved[None, None], R[None], t[None])[0, 0], atol=1e-6)
    R0, score0, aligned0 = align_volume(ref, moved, n_rotations=600, seed=1)
    auc_shift, auc_rot = float(auc_fsc(aligned, ref)), float(auc_fsc(aligned0, ref))
    assert score > 0.99 and score > score0 and auc_shift > auc_rot + 0.1, (score, score0, auc_shift, auc_rot)
    assert abs(template_auc_fsc(moved, ref, n_rotations=600, seed=1, max_shift=4.0) - auc_shift) < 1e-6


# --- K by BIC, class averages with poses, shift error, report figures ----------------------------------------------
def _oracle_run(tmp_path, n_per_class=10, mwa=30.0):
    "A simulated seed004 set (24³, SNR 1) and a run folder whose embedding has the true poses and class-separated content."
    from cryo_disent.physics.simulate import simulate_dataset
    from cryo_disent.data.datasets import VolumeDataset
    data, run = tmp_path / "data", tmp_path / "run"
    simulate_dataset("seed004", data, n_per_class=n_per_class, box=24, snr=1.0, mwa=mwa, seed=0, progress=False)
    ds = VolumeDataset.from_folder(data)
    y = ds.labels.numpy()
    rng = np.random.default_rng(0)
    content = np.eye(4)[y] * 10 + rng.normal(0, 0.5, (len(y), 4))
    run.mkdir()
    np.savez(run / "embedding.npz", content=content, label=y, index=np.arange(len(y)), rotation=ds.rotations.numpy(),
             translation=ds.shifts.numpy(), true_rotation=ds.rotations.numpy(), true_shift=ds.shifts.numpy())
    return data, run


@pytest.mark.slow
def test_cluster_run_icl_averages_and_report_with_true_poses(tmp_path):
    from cryo_disent.app.pipelines import cluster_run, report_run
    data, run = _oracle_run(tmp_path)
    m = cluster_run(run, data, n_rotations=200, classify=False)   # the latent path; no k: chosen by ICL, not from the labels
    print({k: m[k] for k in ("k", "ari", "average_auc_fsc_mean", "shift_error_median_vox", "pose_error_median_deg")})
    assert m["k_chosen_by"] == "icl" and m["k"] == 4 and set(m["icl_curve"]) == set(m["bic_curve"]) == {str(k) for k in range(2, 11)}
    assert m["ari"] > 0.99 and m["average_wedge_mwa"] == [30.0]
    assert m["average_auc_fsc_mean"] > 0.7 and "template_auc_fsc" not in m   # no model: averages only
    assert m["shift_error_median_vox"] < 1e-4 and m["pose_error_median_deg"] < 1e-3
    vols = np.load(run / "classes.npz")
    assert vols["average"].shape == (4, 24, 24, 24) and sorted(vols["cls"].tolist()) == [0, 1, 2, 3]
    html = report_run(run, data).read_text()
    for heading in ("Templates, averages and ground truth", "Pose error", "Choice of K"):
        assert heading in html


def test_class_average_beats_single_particle_and_unweighted_mean(tmp_path):
    "Noise-free particles with true poses: wedge-weighted average > plain mean > one particle, in AUC-FSC vs the reference."
    import math
    from cryo_disent.analysis.averaging import class_averages
    from cryo_disent.physics.geometry import to_template_frame
    from cryo_disent.physics.fourier import auc_fsc
    from cryo_disent.physics.simulate import Simulator, contrast_sign
    sim = Simulator("seed004", snr=math.inf, mwa=30.0, n_per_class=8, box=24, seed=1)
    vols = torch.cat([v for v, _ in sim.batches(64)])[:, None]
    refs = torch.as_tensor(sim.references()) * contrast_sign(sim.spec)
    lab, R, t = sim.labels.numpy(), sim.R.float(), sim.t.float()
    w = auc_fsc(class_averages(vols, lab, R, t, wedge=30.0)[0], refs)
    plain = auc_fsc(class_averages(vols, lab, R, t, wedge=None)[0], refs)
    first = [int(np.flatnonzero(lab == c)[0]) for c in range(4)]
    single = auc_fsc(to_template_frame(vols[first], R[first], t[first])[:, 0], refs)
    print("AUC-FSC single", single.numpy().round(3), "plain", plain.numpy().round(3), "wedge", w.numpy().round(3))
    assert (w > plain).all() and (plain > single).all()
