"""Per-particle weights (CTF² × measured tilt range × exposure): the wedge, the CTF zeros, the simulator applying what
its table says, the SNR, the dataset round trip, and the old presets unchanged."""
import math

import numpy as np
import pytest
import torch

from cryo_disent.data.datasets import VolumeDataset, save_dataset
from cryo_disent.physics.microscope import ctf_zeros, estimate_snr, missing_wedge_mask
from cryo_disent.physics.simulate import Simulator, simulate_dataset
from cryo_disent.physics.weights import particle_transfer, particle_weights, weight_params

QUIET = dict(mask=False, standardize=False, lowpass_output=None)


def _phi(box):
    kz, ky, kx = np.meshgrid(np.fft.fftfreq(box), np.fft.fftfreq(box), np.fft.rfftfreq(box), indexing="ij")
    return np.degrees(np.arctan2(kz, kx)), kx, kz


def test_weight_is_zero_outside_each_particles_own_wedge_and_matches_the_wedge_rule():
    sim = Simulator("seed004_tomo", n_per_class=2, box=24, n_tomograms=4, seed=2, **QUIET)
    w = particle_weights(24, **weight_params(sim.table)).numpy()
    phi, kx, kz = _phi(24)
    for i, r in enumerate(sim.table.itertuples()):
        outside = ((phi < r.tilt_min) | (phi > r.tilt_max)) & ~((kx == 0) & (kz == 0))
        assert outside.sum() > 0 and (w[i][outside] == 0).all(), i
        assert (w[i][~outside & (np.abs(kx) > 0)] > 0).mean() > 0.99  # inside: zero only at CTF zeros
    sym = particle_weights(32, 5.0, tilt_min=-60.0, tilt_max=60.0)[0]
    assert torch.equal(sym, missing_wedge_mask(32, 30.0))


def test_ctf_squared_zeros_at_the_analytic_zeros_of_each_particles_defocus():
    box, vs = 128, 2.0
    dz = np.array([2.0, 5.5])
    H = particle_transfer(box, vs, defocus_um=dz, cs_mm=2.7, amplitude_contrast=0.1).double().numpy()
    k = np.arange(box // 2 + 1) / (box * vs)
    for i, d in enumerate(dz):
        z = ctf_zeros(3, d, 300.0, 2.7, 0.1)
        flips = k[1:][np.sign(H[i, 0, 0, 1:]) != np.sign(H[i, 0, 0, :-1])][:3]
        assert np.abs(flips - z).max() <= 1 / (box * vs), (d, flips, z)
        # independent: χ(k) = π λ Δz k² − π/2 Cs λ³ k⁴ = mπ − arcsin A, λ in closed form
        lam = 12.2642584 / math.sqrt(300e3 * (1 + 0.978475598e-6 * 300e3))
        chi = np.pi * lam * d * 1e4 * z**2 - np.pi / 2 * 2.7e7 * lam**3 * z**4
        np.testing.assert_allclose(chi, np.arange(1, 4) * np.pi - math.asin(0.1), rtol=1e-5)
    assert not np.allclose(H[0, 0, 0], H[1, 0, 0])  # each particle its own defocus


def test_noise_free_particle_spectrum_over_clean_spectrum_is_the_tables_weight():
    kw = dict(n_per_class=3, box=24, seed=8, snr=math.inf, **QUIET)
    tomo = Simulator("seed004_tomo", **kw)
    clean = Simulator("seed004_tomo", ctf=None, n_tomograms=0, exposure=None, **kw)
    assert torch.equal(tomo.R, clean.R) and torch.equal(tomo.t, clean.t)
    n = len(tomo)
    F1 = torch.fft.rfftn(tomo.render(range(n))[0].double(), dim=(-3, -2, -1))
    F0 = torch.fft.rfftn(clean.render(range(n))[0].double(), dim=(-3, -2, -1))
    w = particle_weights(24, **weight_params(tomo.table)).double()
    ok = F0.abs() > 1e-3 * F0.abs().amax((-3, -2, -1), keepdim=True)
    ratio2 = (F1 / F0).abs() ** 2
    torch.testing.assert_close(ratio2[ok], w[ok], rtol=0, atol=2e-4)
    assert (F1.abs()[w == 0] < 1e-6 * F1.abs().max()).all()  # nothing where the weight is 0
    wrong = weight_params(tomo.table.assign(defocus_um=tomo.table.defocus_um + 0.5))
    assert not torch.allclose(particle_weights(24, **wrong).double()[ok], ratio2[ok], atol=2e-4)  # the test can fail


@pytest.mark.slow
def test_snr_measured_back_from_a_simulated_tomo_set():
    sim = Simulator("seed004_tomo", n_per_class=100, box=32, snr=0.05, seed=11, **QUIET)
    a, st = sim.render(range(len(sim)))
    b, _ = sim.render(range(len(sim)), replica=1)
    est = estimate_snr(a, b)
    assert np.allclose(st["signal_var"] / st["noise_var"], 0.05, rtol=1e-5)
    assert abs(est / 0.05 - 1) <= 0.10, est


def test_snr_is_the_requested_one_per_particle():
    sim = Simulator("seed004_tomo", n_per_class=2, box=24, snr=0.1, seed=4, **QUIET)
    (s, n), _ = sim.render(range(len(sim)), parts=True)
    r = s.double().var((-3, -2, -1), unbiased=False) / n.double().var((-3, -2, -1), unbiased=False)
    torch.testing.assert_close(r, torch.full_like(r, 0.1), rtol=1e-3, atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_dataset_round_trip_gives_the_same_weights_from_columns_and_file(tmp_path, dtype):
    sim = Simulator("seed004_tomo", n_per_class=2, box=16, n_tomograms=3, seed=5)
    x, _ = sim.render(range(len(sim)))
    W = particle_weights(16, **weight_params(sim.table)).numpy()
    ds = VolumeDataset.from_folder(save_dataset(tmp_path / "d", x.numpy(), sim.table, weights=W.astype(dtype)))
    idx = np.array([7, 2, 0])
    cols, file = ds.weights(idx, source="columns"), ds.weights(idx, source="file")
    assert torch.equal(cols, torch.from_numpy(W[idx]))
    torch.testing.assert_close(file, cols, rtol=0, atol=0 if dtype == np.float32 else 1e-3)
    assert not ds.ctf_premultiplied


def test_simulated_folder_carries_the_columns(tmp_path):
    p = simulate_dataset("seed004_tomo", tmp_path / "t", n_per_class=1, box=16, seed=1, progress=False)
    ds = VolumeDataset.from_folder(p)
    for c in ("tomogram", "tilt_min", "tilt_max", "defocus_um", "exposure", "mwa"):
        assert c in ds.table, c
    assert ds.has_weights and ds.table.defocus_um.between(2, 6).all()
    assert torch.equal(ds.weights([0, 3]), particle_weights(16, **weight_params(ds.table.iloc[[0, 3]])))


# Small sets of presets made before per-particle weights: the volumes' spread (all, first, last; mean |v|), the first
# particle's pose (quaternion, shift) and the summed signal variance. Compared closely, not bit for bit: float sums
# differ across CPUs in their last digits (their files' hashes do).
OLD_PRESETS = {
    ("seed004", 24): ((0.836987, 0.839034, 0.837512, 0.56758),
                      (0.92626533, -0.21517646, 0.13660716, 0.27761506, -0.81654233, -1.761403, -0.46939399), 0.00055255),
    ("affinity", 20): ((0.016953, 0.0123493, 0.0284981, 0.0118368),
                       (0.14062577, -0.37187348, -0.50341192, 0.76714467, 1.9968737, -1.4510521, 0.069638224), 0.000626123),
}


@pytest.mark.parametrize("name,box", sorted(OLD_PRESETS))
def test_old_presets_are_unchanged(tmp_path, name, box):
    import starfile
    p = simulate_dataset(name, tmp_path / "x", n_per_class=2, box=box, seed=3, progress=False)
    v, t = np.load(p / "volumes.npy").astype(np.float64), starfile.read(p / "particles.star")
    spread, pose, signal = OLD_PRESETS[(name, box)]
    np.testing.assert_allclose([v.std(), v[0].std(), v[-1].std(), np.abs(v).mean()], spread, rtol=1e-4)
    np.testing.assert_allclose(t.loc[0, ["qw", "qx", "qy", "qz", "shift_x", "shift_y", "shift_z"]].astype(float), pose, atol=1e-6)
    np.testing.assert_allclose(t.signal_var.sum(), signal, rtol=1e-4)
