"""3D-SpVAE: the pose convention from the simulator to eq. 5, and the likelihood scale of the loss."""
import math
import torch
import torch.nn.functional as F
from cryo_disent.core import seed_everything
from cryo_disent.physics.geometry import coordinate_grid, euler_ypr_to_matrix, matrix_to_euler_ypr
from cryo_disent.models.base import load_model
from cryo_disent.models.spatial_nets import model_delta_t, pose_from_params
from cryo_disent.models.spatial_vae import SpatialVAE3d, SpatialVAE3dCNN
from cryo_disent.physics.simulate import Simulator


def _decode_reference(ref, theta, delta_t):
    "Eq. 5 with the true map as the generator: sample `ref` at x R(Θ) + Δt (row vectors) on the [−1, 1] grid."
    D = ref.shape[-1]
    pts = coordinate_grid((D, D, D))[None] @ euler_ypr_to_matrix(theta)[:, None, None] + delta_t[:, None, None, None]
    return F.grid_sample(ref[None, None].expand(len(theta), 1, D, D, D), pts, align_corners=True)[:, 0]


def test_simulator_pose_through_eq5():
    "The simulator's (R, shift in voxels, x y z) mapped to (Θ, Δt) by inverting `pose_from_params` reproduces the particle."
    D = 20
    sim = Simulator("seed000", structures=("4V8R_TRiC_one",), n_per_class=4, box=D, mwa=0.0, ctf=None, snr=math.inf,
                    max_shift=3.0)
    x, _ = sim.render(range(4))
    ref = torch.as_tensor(sim.references())[0]
    R, t = sim.R.float(), sim.t.float()
    theta = matrix_to_euler_ypr(R)
    delta_t = -(R.transpose(1, 2) @ t[..., None]).squeeze(-1) / ((D - 1) / 2)  # 1 voxel = 2/(D − 1) on the grid
    R2, t2 = pose_from_params(theta, delta_t, (D, D, D))
    torch.testing.assert_close(R2, R, atol=1e-5, rtol=0)
    torch.testing.assert_close(t2, t, atol=1e-5, rtol=0)
    corr = lambda a, b: float(torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1])
    dec = _decode_reference(ref, theta, delta_t)
    assert min(corr(dec[i], x[i]) for i in range(4)) > 0.98
    # the wrong conventions score visibly lower: shift sign flipped, 1 voxel = 2/D, rotation transposed
    wrong = [_decode_reference(ref, theta, -delta_t), _decode_reference(ref, theta, delta_t * (D - 1) / D),
             _decode_reference(ref, matrix_to_euler_ypr(R.transpose(1, 2)), delta_t)]
    good, bad = sum(corr(dec[i], x[i]) for i in range(4)) / 4, [sum(corr(w[i], x[i]) for i in range(4)) / 4 for w in wrong]
    assert bad[0] < good - 0.1 and bad[2] < good - 0.1  # measured: 0.13 and 0.68 against 0.990
    assert bad[1] < good - 0.002  # 2/D instead of 2/(D − 1): 0.9857 (the shifts are at most 3 voxels)
    # shift_frame="image": the latent is the simulator's shift itself (grid units); Δt = −u R(Θ) decodes the same particle
    u = t / ((D - 1) / 2)
    torch.testing.assert_close(model_delta_t(theta, u, "image"), delta_t, atol=1e-5, rtol=0)
    torch.testing.assert_close(pose_from_params(theta, u, (D, D, D), "image")[1], t, atol=1e-5, rtol=0)


def test_likelihood_is_unit_variance_gaussian():
    "The loss is −ELBO with −log N(x; x̂, σ²) = SSE/(2σ²) + const, σ = 1 by default (it was SSE, i.e. σ² = ½)."
    seed_everything(0)
    m = SpatialVAE3d(SpatialVAE3d.tiny_config((1, 8, 8, 8)))
    batch = dict(x=torch.randn(3, 1, 8, 8, 8))
    out = m(batch)
    mo = m.loss(batch, out)
    sse = (out["x_hat"] - batch["x"]).pow(2).sum((1, 2, 3, 4)).mean()
    torch.testing.assert_close(mo.terms["recon"], sse / 2)
    torch.testing.assert_close(mo.loss, sse / 2 + mo.logs["kl"])


def test_image_frame_softargmax_gauge_trains_and_round_trips(tmp_path):
    "The beyond-the-paper options together: finite steps, gradients reach the soft-argmax head, save/load keeps the model."
    for cls in (SpatialVAE3d, SpatialVAE3dCNN):
        seed_everything(0)
        m = cls(cls.tiny_config((1, 12, 12, 12), shift_frame="image", shift_head="softargmax", centre_weight=1.0))
        opt = torch.optim.Adam(m.parameters(), 1e-3)
        x = torch.randn(4, 1, 12, 12, 12)
        for _ in range(3):
            mo = m.loss(dict(x=x), m(dict(x=x)))
            assert torch.isfinite(mo.loss) and mo.terms["centre"] > 0
            opt.zero_grad()
            mo.loss.backward()
            assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.shift_head.parameters())
            opt.step()
        m.save(tmp_path / f"{cls.__name__}.pt")
        m2 = load_model(tmp_path / f"{cls.__name__}.pt")
        assert m2.config.shift_head == "softargmax"
        a, b = m.embed(x), m2.embed(x)
        torch.testing.assert_close(a["translation"], b["translation"])
        torch.testing.assert_close(a["translation"], a["translation_params"] * 5.5)  # the centre u in voxels
