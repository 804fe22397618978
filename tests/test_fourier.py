"""Edge cases of cryo_disent.physics.fourier that the notebook examples do not cover: dtypes, devices, gradients, odd sizes."""
import numpy as np
import pytest
import torch

from cryo_disent.core import InputError
from cryo_disent.physics.fourier import (auc_fsc, fftn_c, fourier_crop, fourier_pad, freq_grid, fsc, fsc_resolution,
                                 gaussian_lowpass, ifftn_c, lowpass, mean_fsc_weighted, radial_index, radial_power,
                                 soft_sphere_mask)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_and_device_preserved(device, dtype):
    v = torch.randn(2, 1, 10, 10, 10, device=device, dtype=dtype)
    for out in (lowpass(v, 4.0), gaussian_lowpass(v, 4.0), fourier_crop(v, 7), fourier_pad(v, 13)):
        assert out.dtype == dtype and out.device.type == device
    c = fsc(v, v)
    assert c.dtype == dtype and c.device.type == device and c.shape == (2, 1, 6)
    assert radial_power(v).device.type == device
    assert auc_fsc(v, v).shape == (2, 1) and mean_fsc_weighted(v, v).shape == (2, 1)
    assert fsc_resolution(c).shape == (2, 1)


def test_complex_roundtrip_and_odd_sizes():
    z = torch.randn(3, 5, 7, 9, dtype=torch.complex128)
    torch.testing.assert_close(ifftn_c(fftn_c(z)), z)
    ref = np.fft.fftshift(np.fft.fftn(np.fft.ifftshift(z.numpy(), axes=(1, 2, 3)), axes=(1, 2, 3)), axes=(1, 2, 3))
    np.testing.assert_allclose(fftn_c(z).numpy(), ref, atol=1e-10)
    assert lowpass(z, 3.0).is_complex()


def test_gradients_flow_through_filters_and_resampling():
    v = torch.randn(8, 8, 8, dtype=torch.float64, requires_grad=True)
    loss = (lowpass(v, 3.0, soft_width=2).square().sum() + fourier_crop(v, 5).sum()
            + gaussian_lowpass(v, 4.0).sum() + (1 - mean_fsc_weighted(v, v.detach() + 1)))
    loss.backward()
    assert torch.isfinite(v.grad).all() and v.grad.abs().sum() > 0


def test_fourier_crop_is_linear_and_matches_sampling_in_2d():
    # a 2D band-limited image sampled at two sizes, box-centred (voxel j at (j - (n-1)/2)/n of the box)
    def img(n):
        x = (np.arange(n) - (n - 1) / 2) / n
        yy, xx = np.meshgrid(x, x, indexing="ij")
        return torch.from_numpy(np.cos(2 * np.pi * (3 * xx - 2 * yy) + 0.4) + 0.5 * np.sin(2 * np.pi * 4 * yy))
    torch.testing.assert_close(fourier_crop(img(30), 11, ndim=2), img(11))
    torch.testing.assert_close(fourier_pad(img(11), 30, ndim=2), img(30))
    a, b = torch.randn(2, 12, 12, dtype=torch.float64)
    torch.testing.assert_close(fourier_crop(2 * a + b, 8, ndim=2), 2 * fourier_crop(a, 8, ndim=2) + fourier_crop(b, 8, ndim=2))


def test_non_cubic_shells_and_fsc():
    shape = (8, 12, 16)
    idx = radial_index(shape)
    assert idx.shape == shape and idx[4, 6, 8] == 0
    # along x, 16 voxels span 0.5 cycles/voxel; shells are in units of 1/min(shape) = 1/8 cycles/voxel
    assert idx[4, 6, 0] == 4 and idx[0, 6, 8] == 4
    k = freq_grid(shape)
    assert torch.allclose(k[4, 6, 0], torch.tensor([-0.5, 0.0, 0.0]))
    v = torch.randn(*shape)
    torch.testing.assert_close(fsc(v, v), torch.ones(5))


def test_resolution_of_a_known_filter():
    torch.manual_seed(0)
    v = torch.randn(4, 40, 40, 40)
    for d in (6.0, 10.0):  # voxel size 1.5 Å, box 60 Å: cut-off shells 10 and 6
        res = fsc_resolution(fsc(v, lowpass(v, d, voxel_size=1.5)), voxel_size=1.5)
        assert ((res > 60 / (60 / d + 1)) & (res < 60 / (60 / d - 1))).all(), res


@pytest.mark.parametrize("call, msg", [
    (lambda: fsc(torch.zeros(4, 4, 4), torch.zeros(4, 4, 5)), "b: expected spatial shape"),
    (lambda: fsc(torch.zeros(4, 4), torch.zeros(4, 4)), "a: expected at least 3 dims"),
    (lambda: lowpass(torch.zeros(4, 4, 4), 2.0, voxel_size=-1), "voxel_size"),
    (lambda: lowpass(torch.zeros(4, 4, 4), 2.0, soft_width=-1), "soft_width"),
    (lambda: fourier_crop(torch.zeros(4, 4, 4), (2, 2)), "new_size"),
    (lambda: fourier_crop(torch.zeros(4, 4, 4), 2, center="middle"), "center"),
    (lambda: soft_sphere_mask((4, 4), ndim=3), "size"),
    (lambda: fsc_resolution(torch.ones(1)), "curve"),
    (lambda: fftn_c(np.zeros((4, 4, 4))), "expected a torch.Tensor"),
])
def test_bad_input_names_the_parameter(call, msg):
    with pytest.raises(InputError, match=msg):
        call()
