"""Extra checks for cryo_disent.geometry that the notebook does not cover: float32 accuracy (what networks use),
dtype/device propagation, CUDA agreement (skipped without a GPU) and bad-input messages."""
import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from cryo_disent.core import InputError
from cryo_disent import geometry as G

R64 = torch.as_tensor(Rotation.random(300, rng=7).as_matrix())
R32 = R64.float()
EYE = torch.eye(3)


@pytest.mark.parametrize("to,back", [
    (G.matrix_to_quat, G.quat_to_matrix),
    (G.matrix_to_axis_angle, G.axis_angle_to_matrix),
    (G.matrix_to_sixd, G.sixd_to_matrix),
    (G.matrix_to_euler_ypr, G.euler_ypr_to_matrix),
    (G.matrix_to_euler_zyz, G.euler_zyz_to_matrix),
])
def test_float32_round_trip(to, back):
    out = back(to(R32))
    assert out.dtype == torch.float32
    assert (out - R32).abs().max() < 5e-6


def test_float32_small_and_near_pi_angles():
    ang = torch.tensor([0.0, 1e-6, 1e-3, math.pi - 1e-3, math.pi - 1e-6])
    v = torch.nn.functional.normalize(torch.tensor([[1.0, 2.0, -0.5]]), dim=-1) * ang[:, None]
    R = G.axis_angle_to_matrix(v)
    assert (G.geodesic_angle(R, EYE) - ang).abs().max() < 1e-5
    assert (G.axis_angle_to_matrix(G.matrix_to_axis_angle(R)) - R).abs().max() < 5e-6


def test_gradients_finite_at_identity_and_half_turn():
    for R in (torch.eye(3), G.rot_z(torch.tensor(math.pi))):
        x = R.clone().requires_grad_()
        (G.geodesic_angle(x, EYE) + G.matrix_to_axis_angle(x).sum() + G.matrix_to_quat(x).sum()).backward()
        assert torch.isfinite(x.grad).all()


def test_dtype_and_shapes():
    g = torch.Generator().manual_seed(0)
    assert G.random_rotations(5, generator=g, dtype=torch.float64).dtype == torch.float64
    assert G.random_rotations(0).shape == (0, 3, 3)
    assert G.euler_ypr_to_matrix(torch.zeros(2, 4, 3)).shape == (2, 4, 3, 3)
    assert G.coordinate_grid((3, 4, 5), dtype=torch.float64).dtype == torch.float64
    v = torch.rand(1, 1, 6, 7, 8)
    assert G.warp(v, R32[:4], torch.zeros(4, 3)).shape == (4, 1, 6, 7, 8)
    assert G.warp(v.expand(2, 1, 6, 7, 8).contiguous(), R32[0]).shape == (2, 1, 6, 7, 8)
    assert G.warp2d(torch.rand(3, 2, 9, 10), torch.zeros(3)).shape == (3, 2, 9, 10)


@pytest.mark.parametrize("call,msg", [
    (lambda: G.quat_to_matrix(torch.zeros(3)), "q: expected shape [..., 4]"),
    (lambda: G.sixd_to_matrix(torch.zeros(5)), "d6: expected shape [..., 6]"),
    (lambda: G.random_rotations(-1), "n: expected a non-negative integer"),
    (lambda: G.random_rotations_limited(2, 0.0), "max_angle_deg"),
    (lambda: G.random_rotations_limited(2, 120.0, mode="cube"), "max_angle_deg"),
    (lambda: G.warp(torch.zeros(1, 1, 1, 4, 4), EYE), "spatial sizes >= 2"),
    (lambda: G.warp(torch.zeros(3, 1, 4, 4, 4), R32[:2]), "do not broadcast"),
    (lambda: G.warp(torch.zeros(1, 1, 4, 4, 4), EYE, torch.zeros(2)), "t: expected shape [..., 3]"),
    (lambda: G.coordinate_grid((2, 3, 4, 5)), "shape: expected"),
])
def test_bad_input(call, msg):
    with pytest.raises(InputError, match=None) as e:
        call()
    assert msg in str(e.value)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    g = torch.Generator().manual_seed(3)                        # a CPU generator drives CUDA sampling
    Rc = G.random_rotations(8, generator=g, device="cuda")
    assert Rc.device.type == "cuda"
    assert torch.equal(Rc.cpu(), G.random_rotations(8, generator=torch.Generator().manual_seed(3)))
    Rl = G.random_rotations_limited(8, 30.0, generator=torch.Generator().manual_seed(3), device="cuda")
    assert Rl.device.type == "cuda" and G.geodesic_angle(Rl, torch.eye(3, device="cuda")).max() <= math.radians(30) + 1e-5
    v = torch.rand(8, 1, 12, 13, 14, dtype=torch.float64)
    t = torch.randn(8, 3, dtype=torch.float64)
    out = G.warp(v.cuda(), Rc.double(), t.cuda()).cpu()
    ref = G.warp(v, Rc.double().cpu(), t)
    assert (out - ref).abs().max() < 1e-10
    assert G.coordinate_grid((4, 5, 6), device="cuda").device.type == "cuda"
    p = torch.randn(8, 5, 3, device="cuda")
    assert G.rotate_points(p, Rc).device.type == "cuda"
