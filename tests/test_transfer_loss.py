"""`transfer_loss`: the reconstruction error through each particle's transfer (`models.fourier_loss`), the items that
carry it (`data.weights.with_transfer`), and a short training run on per-particle-transfer data."""
import math

import numpy as np
import pytest
import torch

from cryo_disent.core import InputError, seed_everything
from cryo_disent.data.datasets import VolumeDataset
from cryo_disent.data.loaders import make_loader
from cryo_disent.data.weights import with_transfer
from cryo_disent.models.base import recon_loss
from cryo_disent.models.fourier_loss import fourier_sse
from cryo_disent.models.registry import get_model_class
from cryo_disent.physics.microscope import missing_wedge_mask
from cryo_disent.physics.simulate import simulate_dataset
from cryo_disent.training.testing import make_batch
from cryo_disent.training.train import Trainer

DIMS = (-3, -2, -1)


@pytest.fixture(scope="module")
def tomo(tmp_path_factory):
    "A tiny `seed004_tomo` set: each tomogram its tilt range, each particle its defocus and exposure."
    p = simulate_dataset("seed004_tomo", tmp_path_factory.mktemp("tl") / "tomo", n_per_class=3, box=16, snr=0.5,
                         seed=0, n_tomograms=3, progress=False)
    return VolumeDataset.from_folder(p)


@pytest.mark.parametrize("n", [12, 13])
def test_identity_transfer_gives_the_voxel_loss(n):
    g = torch.Generator().manual_seed(n)
    x, y = torch.randn(3, 1, n, n, n, generator=g), torch.randn(3, 1, n, n, n, generator=g)
    ones = torch.ones(3, n, n, n // 2 + 1)
    today = recon_loss(y, x)
    assert math.isclose(float(recon_loss(y, x, "mse", ones)), float(today), rel_tol=1e-5)
    assert float(recon_loss(y, x, "mse", ones)) != float(recon_loss(y, x, "mse", 0.9 * ones))


@pytest.mark.parametrize("n", [12, 13])
def test_binary_wedge_gives_the_measured_voxels_only_sse(n):
    "x measured through the wedge M (X = M X): Σ|X − M X̂|² is Σ over the measured voxels of the full FFT grid only."
    g = torch.Generator().manual_seed(1)
    M = missing_wedge_mask(n, 35.0, "rfft")
    x = torch.fft.irfftn(torch.fft.rfftn(torch.randn(2, 1, n, n, n, generator=g), dim=DIMS) * M, s=(n,) * 3, dim=DIMS)
    y = torch.randn(2, 1, n, n, n, generator=g)
    measured = missing_wedge_mask(n, 35.0, "centred").bool()
    D = torch.fft.fftshift(torch.fft.fftn(x - y, dim=DIMS, norm="ortho"), dim=DIMS)[:, 0]
    expected = D[:, measured].abs().square().sum(1).mean()
    assert 0.2 < measured.float().mean() < 0.9
    assert math.isclose(float(fourier_sse(y, x, M.expand(2, -1, -1, -1))), float(expected), rel_tol=1e-4)
    assert float(expected) < 0.95 * float(recon_loss(y, x))  # the missing voxels are not compared


def test_gradients_flow_to_the_decoded_map_and_not_into_the_missing_wedge():
    n = 12
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(2, 1, n, n, n, generator=g), torch.randn(2, 1, n, n, n, generator=g).requires_grad_()
    M = missing_wedge_mask(n, 40.0, "rfft")
    H = M * torch.linspace(0.2, 1.0, n // 2 + 1)  # a transfer that falls off with k_x, zero in the wedge
    fourier_sse(y, x, H.expand(2, -1, -1, -1)).backward()
    G = torch.fft.rfftn(y.grad, dim=DIMS)[:, 0]
    assert torch.isfinite(y.grad).all() and G[:, M > 0].abs().mean() > 1e-2
    assert G[:, M == 0].abs().max() < 1e-4 * G.abs().max()


def test_items_carry_the_transfer_only_when_asked_and_through_loader_workers(tomo):
    sub = tomo.subset(np.arange(1, 9))
    plain = sub[2]
    assert "transfer" not in plain and set(plain) == set(tomo[3])
    assert torch.equal(plain["x"], tomo[3]["x"])
    dt = with_transfer(sub)
    assert torch.equal(dt[2]["x"], plain["x"]) and "transfer" not in sub[2]
    batches = list(make_loader(dt, 3, shuffle=True, seed=0, num_workers=2))
    assert sum(len(b["x"]) for b in batches) == 8
    for b in batches:
        assert torch.allclose(b["transfer"], tomo.loss_transfer(b["index"]), atol=1e-6)
    assert (batches[0]["transfer"] < 0).any()  # the signed CTF, each particle its own
    assert not torch.equal(batches[0]["transfer"][0], batches[0]["transfer"][1])
    with pytest.raises(InputError, match="data: transfer_loss needs each particle's transfer"):
        with_transfer([plain])


def test_model_loss_with_identity_transfer_is_the_default_one():
    for name in ("beta_vae", "vae3d_mlp"):
        cls = get_model_class(name)
        b = make_batch(cls.tiny_config((1, 16, 16, 16)), 4)
        losses = []
        for on in (False, True):
            seed_everything(0)
            m = cls(cls.tiny_config((1, 16, 16, 16), transfer_loss=on))
            bb = {**b, "transfer": torch.ones(4, 16, 16, 9)} if on else b
            losses.append(float(m.loss(bb, m(bb)).terms["recon"].detach()))
        assert math.isclose(*losses, rel_tol=1e-5), (name, losses)


def test_models_refuse_what_they_cannot_do():
    with pytest.raises(InputError, match="transfer_loss: Harmony3D has no loss through a particle's transfer"):
        get_model_class("harmony3d")(get_model_class("harmony3d").tiny_config(transfer_loss=True))
    with pytest.raises(InputError, match="BetaVAEConfig.transfer_loss: needs recon='mse'"):
        get_model_class("beta_vae").tiny_config(recon="bce", transfer_loss=True)
    m = get_model_class("beta_vae")(get_model_class("beta_vae").tiny_config(transfer_loss=True))
    b = make_batch(m.config, 2)
    with pytest.raises(InputError, match="the batch has no 'transfer'"):
        m.loss(b, m(b))


@pytest.mark.parametrize("name", ["beta_vae", "spatial_vae3d"])
def test_a_short_run_with_transfer_loss_on_per_particle_transfers_is_finite(tomo, tmp_path, name):
    assert tomo.varying_transfer
    cls = get_model_class(name)
    seed_everything(0)
    m = cls(cls.tiny_config((1, 16, 16, 16), transfer_loss=True))
    tr = Trainer(m, tomo.subset(range(9)), tomo.subset(range(9, 12)), out_dir=tmp_path / name, epochs=2, batch_size=4,
                 num_workers=1, progress=False)
    hist = tr.fit()
    assert len(hist) == 4 and all(math.isfinite(h["loss"]) and math.isfinite(h["recon"]) for h in hist)
    off = Trainer(cls(cls.tiny_config((1, 16, 16, 16))), tomo, out_dir=tmp_path / "off", epochs=1)
    assert off.train_data is tomo  # off: the data as given, items unchanged
