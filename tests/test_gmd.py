"The Gaussian-mixture decoder (`cryo_disent.models.gmd`) beyond the notebook's examples: float64 gradcheck, repeatability, failure modes, the benchmark script."
import json, subprocess, sys
from pathlib import Path
import pytest
import torch
from cryo_disent.core import InputError, seed_everything
from cryo_disent.models.gmd import GaussianMixtureDecoder, render_gaussians, render_gaussians_dense

REPO = Path(__file__).resolve().parents[1]


def _gaussians(shape, B=2, M=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    k = len(shape)
    half = torch.tensor([(s - 1) / 2 for s in shape[::-1]], dtype=torch.float64)
    c = (torch.rand(B, M, k, generator=g, dtype=torch.float64) * 2 - 1) * half * 0.8
    A = torch.randn(B, M, k, k, generator=g, dtype=torch.float64)
    P = A @ A.transpose(-1, -2) * 0.3 + torch.eye(k, dtype=torch.float64)  # eigenvalues >= 1: σ <= 1 voxel
    w = torch.rand(B, M, generator=g, dtype=torch.float64) + 0.5
    return c, P, w


@pytest.mark.parametrize("shape", [(5, 6, 7), (6, 7)])
def test_windowed_renderer_gradcheck_float64(shape):
    "Finite differences agree with the backward pass of the windowed, checkpointed renderer (centres, precisions, weights)."
    c, P, w = (t.requires_grad_() for t in _gaussians(shape))
    f = lambda c, P, w: render_gaussians(c, P, w, shape, sigma_max=1.0, truncate=10.0, max_elements=50)  # one item a chunk
    assert torch.autograd.gradcheck(f, (c, P, w), eps=1e-6, atol=1e-5, fast_mode=True)
    test = render_gaussians_dense(c, P, w, shape)
    assert torch.allclose(f(c, P, w), test, atol=1e-10)


def test_same_computation_twice_is_bitwise_equal():
    "The very same decoder call twice on one machine gives identical bits (forward and gradients)."
    seed_everything(0)
    dec = GaussianMixtureDecoder((12, 12, 12), latent_dim=4, n_gaussians=64, max_elements=5000)
    z, pose = torch.randn(3, 4), torch.randn(3, 4)
    outs = []
    for _ in range(2):
        dec.zero_grad()
        y = dec(z, pose)
        y.square().sum().backward()
        outs.append((y.detach().clone(), dec.mlp[-1].weight.grad.clone()))
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])


def test_chunking_does_not_change_the_result():
    "One chunk or many: the same volumes (closeness: the summation order of index_add_ may differ)."
    c, P, w = (t.float() for t in _gaussians((8, 9, 10), B=5, M=7))
    one = render_gaussians(c, P, w, (8, 9, 10), 1.0)
    many = render_gaussians(c, P, w, (8, 9, 10), 1.0, max_elements=100)
    assert torch.allclose(one, many, atol=1e-6)


@pytest.mark.parametrize("kwargs, msg", [
    (dict(shape=(4,), latent_dim=2), "shape: expected (D, H, W) or (H, W)"),
    (dict(shape=(8, 8, 8), latent_dim=2, pose_dims=3), "pose_dims: expected 0, 1 or 4"),
    (dict(shape=(8, 8, 8), latent_dim=2, sigma_range=(2.0, 1.0)), "sigma_range: expected 0 < min <= max"),
    (dict(shape=(8, 8, 8), latent_dim=0), "n_gaussians, latent_dim: expected >= 1"),
])
def test_bad_configuration_is_named(kwargs, msg):
    with pytest.raises(InputError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        GaussianMixtureDecoder(**kwargs)


def test_bad_latent_is_named():
    dec = GaussianMixtureDecoder((8, 8), latent_dim=2, pose_dims=1, n_gaussians=4)
    with pytest.raises(InputError, match=r"z: expected \[B, 2\]"):
        dec(torch.zeros(3, 5), torch.zeros(3, 1))


def test_bench_gmd_runs_tiny():
    "benchmarks/bench_gmd.py prints one JSON line with memory and speed (tiny sizes)."
    cmd = [sys.executable, "benchmarks/bench_gmd.py", "--box", "8", "--batch-size", "2", "--n-gaussians", "16",
           "--steps", "1", "--threads", "1"]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["renderer"] == "windowed+checkpoint" and out["samples_per_s"] > 0
    assert "peak_mem_mb" in out  # on CPU the growth of the peak RSS over the timed steps: 0 is a right answer at this size
