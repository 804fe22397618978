"""Reference-free classification (`cryo_disent.analysis.classify`) on simulated subtomograms: classes, their number, poses."""
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from cryo_disent.analysis.alignment import pose_error_per_class
from cryo_disent.analysis.classify import classify, heldout_loglik
from cryo_disent.analysis.em import BandData, em
from cryo_disent.core import InputError
from cryo_disent.physics.simulate import simulate

FAST = dict(schedule=((0.12, 3), (0.2, 5)), n_rotations=1000, restarts=1)

pytestmark = pytest.mark.slow  # EM classification of simulated subtomograms, minutes on 2 cores (`make test-fast` skips)


@pytest.fixture(scope="module")
def two_structures():
    "Two same-size complexes (SH1 capsid unit, 80S ribosome: r_max 153 and 159 Å) at SNR 0.1 through a 30° wedge, 24³, 40 each."
    x, t = simulate("seed004", structures=("6QT9_SH1_capsid_ASU", "6ZU5_80S_ribosome"), n_per_class=40, box=24, snr=0.1,
                    mwa=30.0, seed=3)
    return x, t


def test_finds_two_same_size_structures_their_number_and_poses(two_structures):
    x, t = two_structures
    r = classify(x, mwa=30.0, k_max=4, progress=False, **FAST)
    y = t["label"].to_numpy()
    assert r["k"] == 2, (r["separability"], r["merged"])
    assert adjusted_rand_score(y, r["labels"]) > 0.9
    R_true = torch.as_tensor(np.stack([t[["qw", "qx", "qy", "qz"]].to_numpy()]))[0]
    from cryo_disent.physics.geometry import quat_to_matrix
    err = pose_error_per_class(r["rotation"], quat_to_matrix(R_true.double()).float(), y)
    assert err[1]["median"] < 15, err  # the ribosome, in its class reference's frame (the SH1 unit is nearly two-fold at 24³)
    assert r["references"].shape == (2, 24, 24, 24) and r["posterior"].shape == (80, 2)
    np.testing.assert_allclose(r["posterior"].sum(1), 1, atol=1e-5)


def test_same_seed_same_result_and_heldout_prefers_the_truth(two_structures):
    x, t = two_structures
    d = BandData(x, 30.0, 0.2)
    a = em(d, 2, FAST["schedule"], FAST["n_rotations"], seed=1)
    b = em(d, 2, FAST["schedule"], FAST["n_rotations"], seed=1)
    torch.testing.assert_close(a["gamma"], b["gamma"])
    one = em(d, 1, FAST["schedule"], FAST["n_rotations"], seed=1)
    assert heldout_loglik(d, a, n_rotations=FAST["n_rotations"]) > heldout_loglik(d, one, n_rotations=FAST["n_rotations"])


def test_a_given_k_and_an_init_are_used(two_structures):
    x, t = two_structures
    y = t["label"].to_numpy()
    r = classify(x, k=2, mwa=30.0, init=y, progress=False, **dict(FAST, restarts=0))
    assert r["k"] == 2 and [s["start"] for s in r["starts"]] == ["init"] and adjusted_rand_score(y, r["labels"]) > 0.9


def test_amplitudes_follow_each_particles_signal(two_structures):
    "Each particle's signal scaled by 0.6-1.4 (noise as it was): the estimated amplitudes rank with it; one wedge: none by default."
    x, t = two_structures
    y = t["label"].to_numpy()
    a = torch.linspace(0.6, 1.4, 80)[torch.randperm(80, generator=torch.Generator().manual_seed(0))]
    clean, _ = simulate("seed004", structures=("6QT9_SH1_capsid_ASU", "6ZU5_80S_ribosome"), n_per_class=40, box=24, snr=math.inf,
                        mwa=30.0, seed=3)
    c = (x * clean).flatten(1).sum(1) / (clean * clean).flatten(1).sum(1)  # each particle's signal: c × its clean copy
    xs = x + ((a - 1) * c)[:, None, None, None, None] * clean
    r = classify(xs, k=2, mwa=30.0, init=y, progress=False, amplitude=True, **dict(FAST, restarts=0))
    assert r["amplitude"] and r["scale"].shape == (80,) and adjusted_rand_score(y, r["labels"]) > 0.9
    assert np.corrcoef(r["scale"], a)[0, 1] > 0.7, np.corrcoef(r["scale"], a)
    plain = classify(x, k=2, mwa=30.0, init=y, progress=False, **dict(FAST, restarts=0))
    assert not plain["amplitude"] and "scale" not in plain


def test_bad_inputs_are_refused_in_one_line(two_structures):
    x, _ = two_structures
    for kw, msg in [(dict(mwa=95.0), "mwa"), (dict(k=0), "k: expected >= 1"), (dict(criterion="bic"), "criterion"),
                    (dict(restarts=0), "restarts"), (dict(k=2, init=np.full(80, 5)), "init: expected 80 labels below 2"),
                    (dict(amplitude="yes"), "amplitude: expected True, False or 'auto'")]:
        with pytest.raises(InputError, match=msg): classify(x, progress=False, **{**FAST, **kw})
    with pytest.raises(InputError, match="particles: expected cubic volumes"): classify(torch.zeros(4, 1, 8, 8, 6), progress=False)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_gives_the_cpu_classes(two_structures):
    x, t = two_structures
    a = classify(x, k=2, mwa=30.0, progress=False, **FAST)
    b = classify(x, k=2, mwa=30.0, progress=False, device="cuda", **FAST)
    assert adjusted_rand_score(a["labels"], b["labels"]) > 0.95
