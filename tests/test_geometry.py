"""Extra checks for cryo_disent.physics.geometry that the notebook does not cover: float32 accuracy (what networks use),
dtype/device propagation, CUDA agreement (skipped without a GPU) and bad-input messages."""
import math

import pytest
import torch
from scipy.spatial.transform import Rotation

from cryo_disent.core import InputError
from cryo_disent.physics import geometry as G

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
    # same random draws, but the quaternion -> matrix arithmetic runs in CUDA kernels (FMA): close, not the same bytes
    torch.testing.assert_close(Rc.cpu(), G.random_rotations(8, generator=torch.Generator().manual_seed(3)), rtol=0, atol=1e-6)
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


# ---- point-group symmetry -------------------------------------------------------------------------------------------
PHI = (1 + math.sqrt(5)) / 2


def _in(Gs, R, eps=1e-5):
    return bool(((Gs - R).abs().amax((-2, -1)) < eps).any())


@pytest.mark.parametrize("name,order", [("C1", 1), ("C2", 2), ("C13", 13), ("D1", 2), ("D5", 10), ("d8", 16),
                                        ("T", 12), ("O", 24), ("I", 60), (" i ", 60)])
def test_symmetry_group_is_a_group(name, order):
    Gs = G.symmetry_group(name, torch.float64)
    assert Gs.shape == (order, 3, 3) and Gs.dtype == torch.float64
    assert torch.equal(Gs[0], torch.eye(3, dtype=torch.float64))
    assert (torch.linalg.det(Gs) - 1).abs().max() < 1e-12
    assert (Gs.mT @ Gs - torch.eye(3, dtype=torch.float64)).abs().max() < 1e-12
    prod = (Gs[:, None] @ Gs[None]).reshape(-1, 3, 3)
    assert (prod[:, None] - Gs[None]).abs().amax((-2, -1)).min(1).values.max() < 1e-10          # closed
    # Lagrange: the orbit of a generic point has exactly |G| distinct images
    p = torch.tensor([0.31, -0.57, 0.76], dtype=torch.float64)
    img = Gs @ p
    assert ((img[:, None] - img[None]).norm(dim=-1) + 9 * torch.eye(order, dtype=torch.float64)).min() > 1e-3


def test_symmetry_group_permutes_its_axes():
    "Each group maps its symmetry-axis set onto itself; the 90°-turned icosahedral setting does not preserve I's axes."
    def preserved(Gs, pts):
        img = torch.einsum("gij,nj->gni", Gs, pts)
        return bool(((img[:, :, None] - pts[None, None]).norm(dim=-1).min(-1).values < 1e-9).all())
    E = torch.eye(3, dtype=torch.float64)
    axes6 = torch.cat([E, -E])
    assert preserved(G.symmetry_group("O", torch.float64), axes6) and preserved(G.symmetry_group("T", torch.float64), axes6)
    v = torch.tensor([[0, s1, s2 * PHI] for s1 in (-1, 1) for s2 in (-1, 1)], dtype=torch.float64)
    five = torch.cat([v, v.roll(1, -1), v.roll(2, -1)])                      # cyclic permutations of (0, ±1, ±φ)
    GI = G.symmetry_group("I", torch.float64)
    assert preserved(GI, five) and all(_in(GI, G.axis_angle_to_matrix(e * math.pi)) for e in E)   # two-folds on x, y, z
    assert not preserved(GI, five[:, [1, 0, 2]])                             # the other 222 setting: (±1, 0, ±φ) ...
    n = 7
    Dn = G.symmetry_group(f"D{n}", torch.float64)
    k = torch.arange(n, dtype=torch.float64) * math.pi / n
    two = torch.stack([k.cos(), k.sin(), torch.zeros(n, dtype=torch.float64)], -1)
    two = torch.cat([two, -two, torch.tensor([[0, 0, 1.], [0, 0, -1.]], dtype=torch.float64)])
    assert preserved(Dn, two)
    for ax in two[:n]:                                                       # the n two-fold axes, the first along x
        assert _in(Dn, G.axis_angle_to_matrix(ax * math.pi))
    assert torch.allclose(two[0], torch.tensor([1., 0, 0], dtype=torch.float64))


def test_symmetry_group_copies_and_dtype():
    a = G.symmetry_group("O")
    a[1] = 0                                                                 # the cache is not modified through the result
    assert _in(G.symmetry_group("O"), G.rot_z(torch.tensor(math.pi / 2)))
    assert G.symmetry_group("O").dtype == torch.float32 and G.symmetry_group("T", torch.float64).dtype == torch.float64


@pytest.mark.parametrize("name", ["C0", "D0", "C", "Q", "I1", "O2", "C-3", "", None, 5])
def test_symmetry_group_bad_names(name):
    with pytest.raises(InputError) as e:
        G.symmetry_group(name)
    assert "symmetry: expected" in str(e.value)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_symmetry_group_cuda():
    Gc = G.symmetry_group("I", device="cuda")
    assert Gc.device.type == "cuda" and torch.allclose(Gc.cpu(), G.symmetry_group("I"))
