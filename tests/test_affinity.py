"""Affinity-VAE: the affinity matrices' contract, and the affinity term logged as a mean over pairs through the Trainer."""
import numpy as np
import pytest
import torch
from cryo_disent.models.affinity_matrix import (affinity_loss, class_rows, fsc_affinity, mean_difference_affinity, soap_affinity,
                                  check_affinity)
from cryo_disent.core import InputError, seed_everything
from cryo_disent.physics.geometry import random_rotations
from cryo_disent.models.affinity import AffinityVAE
from cryo_disent.physics.structures import load_structure
from cryo_disent.data.toysets import glyph_templates
from cryo_disent.training.train import Trainer
from test_trainer_contract import Toy


@pytest.mark.parametrize("fn", [fsc_affinity, mean_difference_affinity])
def test_template_affinities_contract(fn):
    g = torch.from_numpy(glyph_templates("abu", size=20))
    same = fn(torch.stack([g[0]] * 3), n_rotations=24)
    np.testing.assert_allclose(same, np.ones((3, 3)), atol=1e-6)  # identical templates
    A = fn(g, n_rotations=24)
    np.testing.assert_array_equal(A, A.T)
    assert np.allclose(np.diag(A), 1)
    # (values in [-1, 1] hold by construction: clipped / 1 - 2 D / max D) distinct glyphs are not scored as identical:
    # off the diagonal FSC gives 0.18-0.50, mean difference -1.0 to -0.51; an affinity blind to the templates gives 1
    assert A[~np.eye(3, dtype=bool)].max() < 0.6, A


def test_soap_invariant_to_rotating_a_structure():
    xyz = load_structure("3ENL_enolase_dimer").xyz
    R = random_rotations(1, generator=torch.Generator().manual_seed(1))[0].double().numpy()
    A = soap_affinity([xyz, xyz @ R.T, load_structure("1UBI_ubiquitin").xyz], stretch=False)
    assert A[0, 1] == pytest.approx(1.0, abs=1e-9) and A[0, 2] < 1 - 1e-4


def test_check_affinity_names_where():
    with pytest.raises(InputError, match="my.csv: expected values in"):
        check_affinity([[1, 3], [3, 1]], where="my.csv")


def test_loss_ignores_rows_without_class():
    z = torch.randn(4, 3)
    A = torch.eye(2)
    S_all, n_all = affinity_loss(z[[0, 3]], torch.tensor([0, 1]), A)
    S, n = affinity_loss(z, class_rows(torch.tensor([0, 5, -1, 1]), torch.tensor([0, 1])), A)
    # labels 5 (no such class) and -1 (unlabelled) join no pair: the same as the batch without them
    assert n == n_all == 1 and float(S) == pytest.approx(float(S_all))


def test_logged_affinity_is_a_mean_over_pairs(tmp_path):
    "Validation batches with 1 and 3 usable pairs: the epoch's logged S is Σ S_b n_b / Σ n_b, not the mean over batches."
    seed_everything(0)
    m = AffinityVAE(AffinityVAE.tiny_config((1, 16, 16)))
    val = Toy((1, 16, 16), 8, seed=1)
    hist = Trainer(m, Toy((1, 16, 16)), val, out_dir=tmp_path, epochs=1, batch_size=4, progress=False, device="cpu").fit()
    logged = [h for h in hist if h["split"] == "val"][0]["affinity"]
    m.eval()
    per_batch = []
    with torch.no_grad():
        for a in range(0, 8, 4):
            b = dict(x=val.x[a:a + 4], label=val.label[a:a + 4])
            mo = m.loss(b, m(b))
            per_batch.append((float(mo.terms["affinity"]), mo.counts["affinity"]))
    assert [n for _, n in per_batch] == [1, 3]
    weighted = sum(s * n for s, n in per_batch) / sum(n for _, n in per_batch)
    assert logged == pytest.approx(weighted, rel=1e-5)
    assert np.mean([s for s, _ in per_batch]) != pytest.approx(weighted, rel=1e-3)  # the check can tell the two apart


def test_rotate_pose_decoder_is_an_explicit_rotation(tmp_path):
    "pose_decoder='rotate': the decoded image at ψ is the ψ=0 template rotated by ψ (one sign for every class); trains and resumes."
    from cryo_disent.physics.geometry import warp2d
    seed_everything(0)
    cfg = AffinityVAE.tiny_config((1, 16, 16), pose_decoder="rotate")
    m = AffinityVAE(cfg)
    z = torch.randn(3, cfg.latent_dim)
    psi = torch.tensor([[0.3], [-0.7], [1.2]])
    with torch.no_grad():
        torch.testing.assert_close(m.decode(dict(content=z, pose=psi)), warp2d(m.template(z), psi[:, 0], padding_mode="border"), atol=1e-5, rtol=0)
    hist = Trainer(m, Toy((1, 16, 16)), None, out_dir=tmp_path, epochs=1, batch_size=4, progress=False, device="cpu").fit()
    assert np.isfinite(hist[-1]["loss"])
    m2 = AffinityVAE(cfg)
    hist2 = Trainer(m2, Toy((1, 16, 16)), None, out_dir=tmp_path, epochs=2, batch_size=4, progress=False, device="cpu").fit(resume=True)
    assert [h["epoch"] for h in hist2 if h["split"] == "train"][-1] == 1


@pytest.mark.parametrize("fn", [fsc_affinity, mean_difference_affinity])
def test_in_plane_alignment_range(fn):
    "max_angle limits the 2D alignment search: a quarter-turned copy is identical within ±90°, not within ±30°."
    from cryo_disent.physics.geometry import warp2d
    g = torch.from_numpy(glyph_templates("a", size=20))[0]
    other = torch.from_numpy(glyph_templates("z", size=20))[0]
    t = torch.stack([g, warp2d(g[None, None], torch.tensor([np.pi / 2]))[0, 0], other])
    wide, narrow = fn(t, n_rotations=61, max_angle=90), fn(t, n_rotations=61, max_angle=30)
    assert wide[0, 1] > 0.97 and narrow[0, 1] < wide[0, 1] - 0.05
    with pytest.raises(InputError, match="max_angle"):
        fn(t, max_angle=-1)


def test_affinity_csv_with_text_cells_is_refused(tmp_path):
    "A non-numeric cell gives the one-line InputError naming the file, not a NameError from the error path."
    from cryo_disent.models.affinity_matrix import load_affinity_csv

    p = tmp_path / "A.csv"
    p.write_text(",a,b\na,1,x\nb,0,1\n")
    with pytest.raises(InputError, match="A.csv: expected numbers in every cell"):
        load_affinity_csv(p)
