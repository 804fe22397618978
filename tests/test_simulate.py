"""Simulator checks that need more data or time than the notebook: full-atom gemmi references for the coarse-grained
complexes, the SNR estimated back at 32³, the empty wedge, determinism and bad input on the dataset writer."""
import filecmp, os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import starfile
import torch

from cryo_disent.core import InputError
from cryo_disent.physics.density import band_limit, density_map
from cryo_disent.physics.fourier import gaussian_transfer
from cryo_disent.physics.microscope import estimate_snr, missing_wedge_mask
from cryo_disent.physics.simulate import Simulator, plan, simulate_dataset
from cryo_disent.physics.structures import load_structure, read_atoms, structures

REPO = Path(__file__).resolve().parents[1]


def _shared_structures():
    for cand in (os.environ.get("CRYO_DISENT_SHARED"), REPO / "shared", REPO.parent / "shared"):
        if cand and (Path(cand) / "data" / "structures" / "PROVENANCE.tsv").is_file():
            return Path(cand) / "data" / "structures"
    return None


SRC = _shared_structures()
needs_src = pytest.mark.skipif(SRC is None, reason="shared/data/structures (full-atom models) not found")


def _corr(a, b):
    return float(torch.corrcoef(torch.stack([a.flatten().double(), b.flatten().double()]))[0, 1])


def gemmi_map(atoms, box, voxel_size, resolution, fine=4):
    "Independent reference: gemmi DensityCalculatorE on a P1 cell = our box, cropped/filtered to our frequencies."
    gemmi = pytest.importorskip("gemmi")
    table = {round(sum(gemmi.Element(z).c4322.a), 4): gemmi.Element(z).name for z in range(1, 99)}
    L = box * voxel_size
    st = gemmi.Structure(); st.cell = gemmi.UnitCell(L, L, L, 90, 90, 90); st.spacegroup_hm = "P 1"
    model, ch, res = gemmi.Model("1"), gemmi.Chain("A"), gemmi.Residue(); res.name = "UNK"; res.seqid = gemmi.SeqId(1, " ")
    for x, w in zip(atoms.xyz.astype(np.float64) + (box - 1) / 2 * voxel_size, atoms.weight):
        e = table[round(float(w), 4)]
        a = gemmi.Atom(); a.name, a.element, a.pos, a.b_iso, a.occ = e, gemmi.Element(e), gemmi.Position(*x), 0.0, 1.0
        res.add_atom(a)
    ch.add_residue(res); model.add_chain(ch); st.add_model(model)
    blur = 128 * (voxel_size / fine) ** 2
    dc = gemmi.DensityCalculatorE(); dc.d_min = 0; dc.blur = blur; dc.set_grid_cell_and_spacegroup(st)
    M = fine * box; dc.grid.set_size(M, M, M); dc.put_model_density_on_grid(st[0])
    G = torch.fft.rfftn(torch.as_tensor(np.array(dc.grid, copy=False).transpose(2, 1, 0).copy(), dtype=torch.float64))
    iz = (torch.fft.fftfreq(box, dtype=torch.float64) * box).round().long() % M
    G = G[iz][:, iz][:, :, : box // 2 + 1]
    kz, ky, kx = torch.fft.fftfreq(box).double().view(-1, 1, 1), torch.fft.fftfreq(box).double().view(1, -1, 1), \
        torch.fft.rfftfreq(box).double().view(1, 1, -1)
    k = torch.sqrt(kz ** 2 + ky ** 2 + kx ** 2) / voxel_size
    G = G * band_limit(box) * torch.exp(blur * k ** 2 / 4) * gaussian_transfer(k, resolution)
    return torch.fft.irfftn(G, s=(box,) * 3)


CASES = [  # name, box, voxel size (Å), resolution (Å): the seed004 complexes at their native sampling, and finer ones
    ("4V1W_apoferritin", 24, 7.5, 15.0), ("4V1W_apoferritin", 40, 4.0, 8.0), ("4V8R_TRiC_one", 32, 7.5, 15.0),
    ("2GTL_erythrocruorin_full", 48, 7.5, 15.0), ("6ZU5_80S_ribosome", 48, 7.5, 15.0), ("7PBL_RuvAB_HJ", 40, 4.0, 8.0),
]


@needs_src
@pytest.mark.parametrize("name,box,vs,res", [pytest.param(*c, marks=pytest.mark.slow) if c[1] >= 48 else c for c in CASES])  # 48³: ~12 s each
def test_shipped_pseudo_atoms_match_gemmi_full_atoms(name, box, vs, res):
    row = structures().set_index("name").loc[name]
    full = read_atoms(SRC / row.file, row.selection, name=name)   # every heavy atom, read again from the model file
    assert len(full) == row.n_atoms
    ours = density_map(name, box, vs, res, dtype=torch.float64)   # shipped pseudo-atoms
    c = _corr(ours, gemmi_map(full, box, vs, res))
    print(f"{name} {box}³ at {vs} Å, {res} Å: correlation {c:.5f} ({row.n_pseudo} pseudo-atoms for {row.n_atoms} atoms)")
    assert c >= 0.98


def test_posed_particle_matches_gemmi_of_rotated_atoms():
    "The posed map is the map of the rotated, shifted atoms (ubiquitin ships all its atoms)."
    ub = load_structure("1UBI_ubiquitin")
    R = torch.tensor([[0.36, 0.48, -0.8], [-0.8, 0.6, 0.0], [0.48, 0.64, 0.6]], dtype=torch.float64)
    t = torch.tensor([1.3, -0.7, 2.0], dtype=torch.float64)
    moved = type(ub)(ub.xyz @ R.numpy().T + t.numpy() * 2.0, ub.weight, ub.sigma2, name="moved")
    c = _corr(density_map(ub, 40, 2.0, 5.0, R=R, t=t, dtype=torch.float64), gemmi_map(moved, 40, 2.0, 5.0))
    assert c > 0.9999


@pytest.fixture(scope="module")
def sim_kw():
    return dict(n_per_class=150, box=32, mwa=30.0, mask=False, lowpass_output=None, standardize=False)


@pytest.mark.slow
@pytest.mark.parametrize("snr", [0.1, 0.01])
def test_snr_estimated_back_within_10_percent(snr, sim_kw):
    sim = Simulator("seed004", snr=snr, seed=21, **sim_kw)  # 600 particles, CTF + 30° wedge
    a, _ = sim.render(range(len(sim))); b, _ = sim.render(range(len(sim)), replica=1)
    est = estimate_snr(a, b)
    print(f"SNR {snr}: estimated {est:.5f} ({(est / snr - 1) * 100:+.1f} %) from {len(sim)} pairs")
    assert abs(est / snr - 1) <= 0.10


def test_wedge_is_empty_and_snr_is_exact(sim_kw):
    sim = Simulator("seed004", snr=0.01, seed=3, **{**sim_kw, "n_per_class": 2})
    x, st = sim.render(range(len(sim)))
    P = torch.fft.rfftn(x.double(), dim=(-3, -2, -1)).abs() ** 2
    miss = missing_wedge_mask(32, 30.0) == 0
    assert P[:, miss].sum() < 1e-10 * P.sum()
    (s, n), _ = sim.render(range(len(sim)), parts=True)
    ratio = s.double().var((-3, -2, -1), unbiased=False) / n.double().var((-3, -2, -1), unbiased=False)
    assert torch.allclose(ratio, torch.full_like(ratio, 0.01), rtol=1e-3)


def test_dataset_deterministic_and_atomic(tmp_path):
    """The same call twice gives the same bytes; another batch size the same data set up to float32 rounding (batched
    FFTs and products take other vectorised code paths, e.g. on AVX-512), so across batch sizes only closeness."""
    kw = dict(n_per_class=5, box=24, snr=0.1, mwa=30.0, seed=5, progress=False)
    a = simulate_dataset("seed004", tmp_path / "a", batch_size=3, **kw)
    a2 = simulate_dataset("seed004", tmp_path / "a2", batch_size=3, **kw)
    b = simulate_dataset("seed004", tmp_path / "b", batch_size=50, **kw)
    for f in ("volumes.npy", "particles.star", "dataset.json", "references.npy"):  # the very same call -> same bytes
        assert filecmp.cmp(a / f, a2 / f, shallow=False), f
    va, vb = np.load(a / "volumes.npy"), np.load(b / "volumes.npy")
    assert va.shape == (20, 24, 24, 24)
    np.testing.assert_allclose(vb, va, rtol=0, atol=1e-5 * np.abs(va).max())
    pd.testing.assert_frame_equal(starfile.read(b / "particles.star"), starfile.read(a / "particles.star"),
                                  check_exact=False, rtol=1e-5)
    for f in ("dataset.json", "references.npy"):  # not rendered in batches: the same computation in both calls
        assert filecmp.cmp(a / f, b / f, shallow=False), f
    for bad in (dict(snr=0.0), dict(snr=-0.1), dict(mwa=90.0), dict(mwa=-1.0), dict(n_per_class=-2),
                dict(structures=("not_a_structure",)), dict(voxel_size=7.5)):
        with pytest.raises(InputError):
            simulate_dataset("seed004", tmp_path / "bad", **{**kw, **bad})
        assert not (tmp_path / "bad").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "a2", "b"]   # no temporary folders left behind


def test_box_too_small_says_by_how_much():
    with pytest.raises(InputError, match=r"box: 32 voxels is too small for 6ZU5_80S_ribosome.* \d+ voxels more"):
        plan("seed004", box=32, voxel_size=7.5)


def test_stored_pose_reproduces_particles():
    """particles.star quaternion + shift, applied to references.npy with geometry.warp (active convention), reproduce
    the noise-free particles; the transposed rotation does not (asymmetric classes only: apoferritin is octahedral)."""
    import math
    from cryo_disent.physics.geometry import quat_to_matrix, warp
    from cryo_disent.physics.simulate import Simulator
    sim = Simulator("seed004", n_per_class=3, box=40, snr=math.inf, ctf=None, mwa=0, lowpass_output=None, mask=False,
                    standardize=False, structures=("6ZU5_80S_ribosome", "4V8R_TRiC_one"), seed=3)
    x, _ = sim.render(range(len(sim)))
    refs = torch.from_numpy(sim.references())[sim.labels][:, None].double()
    t = sim.table
    R = quat_to_matrix(torch.tensor(t[["qw", "qx", "qy", "qz"]].to_numpy()))
    s = torch.tensor(t[["shift_x", "shift_y", "shift_z"]].to_numpy())
    corr = lambda a, b: torch.nn.functional.cosine_similarity((a - a.mean()).flatten(), (b - b.mean()).flatten(), dim=0)
    good = warp(refs, R, s)[:, 0]; bad = warp(refs, R.transpose(-1, -2), s)[:, 0]
    for i in range(len(sim)):
        assert corr(good[i], x[i].double()) > 0.97, i
        assert corr(bad[i], x[i].double()) < 0.9, i


def _chain_per_atom(name):
    "Chain name of every heavy atom that `read_atoms` keeps, in its order (the order of the shipped points)."
    gemmi = pytest.importorskip("gemmi")
    from cryo_disent.physics.structures import _SELECTIONS, _parse_selection
    sel = structures().set_index("name").loc[name, "selection"]
    path = next(SRC.glob(f"{name}.*"))
    st = gemmi.read_structure(str(path))
    st.setup_entities(); st.remove_alternative_conformations(); st.remove_hydrogens()
    kind, arg = _parse_selection(None if sel in ("", "None") else sel)
    model, keep = _SELECTIONS[kind](st, arg, name)
    return np.array([ch.name for ch in model for res in ch if res.name != "DUM" and not res.is_water() and keep(ch.name, res)
                     for a in res if not a.element.is_hydrogen and a.element.atomic_number > 0])


@needs_src
@pytest.mark.parametrize("name", ["3ENL_enolase_dimer", "3O21_GluA3NTD_dimer", "7DDO_ACE2_RBD"])
def test_hinge_domains_are_whole_chains(name):
    "The moving range of each hinged structure is exactly one chain of the file, and the rest is the other chain(s)."
    from cryo_disent.physics.conformations import HINGE_DOMAINS
    chains = _chain_per_atom(name)
    assert len(chains) == len(load_structure(name))
    s, e = HINGE_DOMAINS[name]
    assert e == len(chains) and len(set(chains[s:e])) == 1 and chains[s] not in set(chains[:s])


@pytest.mark.slow
def test_conformations_dataset_has_identity_columns(tmp_path):
    "A conformations data set's STAR file holds identity, conformation and hinge angle per particle, consistent with the class."
    from cryo_disent.physics.conformations import conformation_name
    p = simulate_dataset("conformations", tmp_path / "c", n_per_class=1, box=32, progress=False)
    st = starfile.read(p / "particles.star")
    assert len(st) == 18 and {"identity", "conformation", "hinge_deg"} <= set(st.columns)
    assert st.class_name.tolist() == [conformation_name(i, h) for i, h in zip(st.identity, st.hinge_deg)]
    assert sorted(st.hinge_deg.unique().tolist()) == [0.0, 5.0, 10.0, 15.0, 20.0, 25.0]
    assert (st.conformation == (st.hinge_deg / 5).astype(int)).all()
