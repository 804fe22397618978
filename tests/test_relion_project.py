"""Real formats: a simulated set with per-tomogram tilt ranges and per-particle defocus, written as RELION 4 and Warp
write subtomograms (`data.relion_project`), read back by `import-star` with no flags, and exported per class."""
import contextlib, io, shutil
import mrcfile
import numpy as np
import pandas as pd
import pytest
import starfile
from cryo_disent.app.cli import main
from cryo_disent.app.runs import write_json
from cryo_disent.core import InputError
from cryo_disent.data.datasets import dataset_info, load_dataset, VolumeDataset
from cryo_disent.data.io import read_mrc, write_mrc
from cryo_disent.data.relion import ANGLES, ORIGINS, poses_from_relion
from cryo_disent.data.relion_project import write_relion_project, write_warp_project
from cryo_disent.physics.geometry import euler_zyz_to_matrix, quat_to_matrix
from cryo_disent.physics.simulate import simulate_dataset
from cryo_disent.physics.weights import particle_transfer, weight_params
import torch

BOX = 16
TEXT = ["rlnTomoName", "rlnTomoParticleName", "rlnImageName", "rlnCtfImage", "rlnMicrographName", "rlnOpticsGroupName"]


def _cli(argv) -> tuple:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    "12 simulated subtomograms in 3 tomograms (tilt ranges ±40–60°, defocus 2–6 µm, exposure), their truth."
    d = tmp_path_factory.mktemp("proj")
    path = simulate_dataset("seed004_tomo", d / "sim", n_per_class=3, box=BOX, snr=10.0, seed=0, n_tomograms=3,
                            progress=False)
    vol, t = load_dataset(path)
    vs = float(t.voxel_size.iloc[0])
    H = particle_transfer(BOX, **weight_params(t)).numpy()  # the signed transfer of each particle
    R = quat_to_matrix(torch.tensor(t[["qw", "qx", "qy", "qz"]].to_numpy(np.float64))).numpy()
    return dict(d=d, path=path, x=np.asarray(vol), t=t, vs=vs, H=H, w=H * H, R=R,
                shift=t[["shift_x", "shift_y", "shift_z"]].to_numpy(np.float64))


def _filtered(x, F):
    "Particles multiplied by F on their rfft grid, then standardised as import-star does."
    y = np.fft.irfftn(np.fft.rfftn(x, axes=(-3, -2, -1)) * F, s=(BOX,) * 3, axes=(-3, -2, -1))
    m, s = y.mean((1, 2, 3), keepdims=True), y.std((1, 2, 3), keepdims=True)
    return (y - m) / s


def _import(star, out, *flags) -> str:
    code, stdout, err = _cli(["import-star", star, "--out", out, "--quiet", *flags])
    assert code == 0, err
    return stdout.splitlines()[0]


def _weights(folder):
    return np.load(folder / "weights.npy").astype(np.float32)


def _tomo_names(t, fmt):
    return [fmt.format(int(k) + 1) for k in t.tomogram]


@pytest.fixture(scope="module")
def relion4(sim):
    "The set as RELION 4 pseudo-subtomograms (CTF-premultiplied, N³ CTF² volumes, tomograms named 01, 02, …), imported."
    star = write_relion_project(sim["path"], sim["d"] / "relion4", tomo_format="{:02d}")
    line = _import(star, sim["d"] / "ds_relion4")
    return dict(star=star, ds=sim["d"] / "ds_relion4", line=line)


@pytest.fixture(scope="module")
def warp(sim):
    "The set as Warp exports sub-tomograms (phase-flipped, float16 |CTF| half volumes, no optics table), imported."
    star = write_warp_project(sim["path"], sim["d"] / "warp")
    line = _import(star, sim["d"] / "ds_warp")
    return dict(star=star, ds=sim["d"] / "ds_warp", line=line)


def test_relion4_project_imports_with_its_weights_poses_and_tomograms(sim, relion4):
    t, vs = sim["t"], sim["vs"]
    k = t.tomogram.nunique()
    assert relion4["line"] == (f"import-star: 12 particles, {k} tomograms, per-particle CTF volumes (RELION, N³ full) "
                               f"→ weights.npy, CTF-premultiplied")
    ds = relion4["ds"]
    np.testing.assert_allclose(_weights(ds), sim["w"], rtol=1e-3, atol=1e-6)  # float16 of the simulator's weights
    info = dataset_info(ds)
    assert info["ctf_premultiplied"] is True and info["meta"]["voxel_size"] == pytest.approx(vs)
    (optics,) = info["meta"]["relion_optics"]
    assert optics["rlnImageDimensionality"] == 3 and optics["rlnImageSize"] == BOX
    assert optics["rlnCtfDataAreCtfPremultiplied"] == 1 and optics["rlnVoltage"] == t.voltage_kv.iloc[0]
    assert optics["rlnSphericalAberration"] == t.cs_mm.iloc[0] and optics["rlnAmplitudeContrast"] == 0.1
    vol, got = load_dataset(ds)
    assert got.rlnTomoName.tolist() == _tomo_names(t, "{:02d}")                 # "01" stays the text "01"
    assert got.rlnTomoParticleName.str.startswith(tuple(got.rlnTomoName)).all()
    assert {"rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ"} <= set(got)
    np.testing.assert_allclose(got.rlnDefocusU, t.defocus_um * 1e4)
    np.testing.assert_allclose(got.rlnDefocusV, t.defocus_um * 1e4)
    R, sh = poses_from_relion(got, BOX, vs)                                     # passive ZYZ, Å origins
    np.testing.assert_allclose(R.numpy(), sim["R"], atol=1e-9)
    np.testing.assert_allclose(sh.numpy(), sim["shift"], atol=1e-6)
    np.testing.assert_allclose(np.asarray(vol), _filtered(sim["x"], sim["H"]), atol=2e-4)  # the data × CTF


def test_warp_project_imports_with_its_weights_and_angles(sim, warp):
    t = sim["t"]
    assert warp["line"] == (f"import-star: 12 particles, {t.tomogram.nunique()} tomograms, per-particle CTF volumes "
                            f"(Warp, N×N×(N/2+1) half) → weights.npy, not CTF-premultiplied")
    blocks = starfile.read(warp["star"], always_dict=True)
    assert len(blocks) == 1 and "rlnOpticsGroup" not in blocks[next(iter(blocks))]
    ds = warp["ds"]
    np.testing.assert_allclose(_weights(ds), sim["w"], rtol=3e-3, atol=1e-6)   # (float16 |H|)²
    info = dataset_info(ds)
    assert "ctf_premultiplied" not in info and info["meta"]["voxel_size"] == pytest.approx(sim["vs"])
    assert VolumeDataset.from_folder(ds).ctf_premultiplied is False
    vol, got = load_dataset(ds)
    assert got.rlnMicrographName.tolist() == [f"{n}.tomostar" for n in _tomo_names(t, "TS_{:02d}")]
    with mrcfile.open(warp["star"].parent / got.rlnCtfImage[0], header_only=True) as m:
        assert int(m.header.mode) == 12                                         # float16, as Warp writes
    R = euler_zyz_to_matrix(got[ANGLES].to_numpy(np.float64), degrees=True).transpose(-1, -2)
    np.testing.assert_allclose(R.numpy(), sim["R"], atol=1e-9)
    flip = np.where(sim["H"] < 0, -1.0, 1.0)
    np.testing.assert_allclose(np.asarray(vol), _filtered(sim["x"], flip), atol=5e-3)  # phase-flipped, float16


@pytest.mark.parametrize("premultiplied,layout,words", [
    (False, "half", "(RELION, N×N×(N/2+1) half) → weights.npy, not CTF-premultiplied"),
    (True, "half+multiplicity", "(RELION, N×N×(N/2+1) half + multiplicity) → weights.npy, CTF-premultiplied"),
])
def test_every_layout_and_convention_gives_the_same_weights(sim, tmp_path, premultiplied, layout, words):
    star = write_relion_project(sim["path"], tmp_path / "p", premultiplied=premultiplied, layout=layout)
    assert _import(star, tmp_path / "ds").endswith(words)
    np.testing.assert_allclose(_weights(tmp_path / "ds"), sim["w"], rtol=1e-3, atol=1e-6)
    vol = np.asarray(load_dataset(tmp_path / "ds")[0])
    want = _filtered(sim["x"], sim["H"] if premultiplied else np.ones_like(sim["H"]))
    np.testing.assert_allclose(vol, want, atol=2e-4)


def test_an_imported_project_is_written_again_from_its_weights(sim, relion4, tmp_path):
    "A premultiplied dataset with weights.npy only (no CTF columns) is written as it is, with its weights."
    star = write_relion_project(relion4["ds"], tmp_path / "again")
    assert _import(star, tmp_path / "ds").endswith("(RELION, N³ full) → weights.npy, CTF-premultiplied")
    np.testing.assert_allclose(_weights(tmp_path / "ds"), _weights(relion4["ds"]), rtol=1e-3, atol=1e-7)
    np.testing.assert_allclose(np.asarray(load_dataset(tmp_path / "ds")[0]), np.asarray(load_dataset(relion4["ds"])[0]),
                               atol=1e-5)                                      # the data as they were
    again = starfile.read(star, always_dict=True, parse_as_string=TEXT)["particles"]
    first = starfile.read(relion4["star"], always_dict=True, parse_as_string=TEXT)["particles"]
    assert again.rlnTomoName.tolist() == first.rlnTomoName.tolist()            # the imported names
    pd.testing.assert_frame_equal(again[ANGLES + ORIGINS], first[ANGLES + ORIGINS])  # and poses
    with pytest.raises(InputError, match="CTF-premultiplied; Warp's subtomograms are not"):
        write_warp_project(relion4["ds"], tmp_path / "w")
    with pytest.raises(InputError, match="CTF-premultiplied; expected premultiplied=True"):
        write_relion_project(relion4["ds"], tmp_path / "r3", premultiplied=False)


def _run(sim, data, run):
    "A run on `data` by hand: the true poses, the true classes as clusters (particle 0 unassigned)."
    t = sim["t"]
    cluster = t.label.to_numpy().copy()
    cluster[0] = -1
    write_json(run / "config.json", dict(run=dict(data=str(data))))
    np.savez(run / "embedding.npz", index=np.arange(len(t)), rotation=sim["R"], translation=sim["shift"],
             cluster=cluster, label=np.full(len(t), -1), content=np.zeros((len(t), 2)))
    return cluster


@pytest.mark.parametrize("fmt", ["relion4", "warp"])
def test_split_classes_keep_every_original_column(sim, relion4, warp, tmp_path, fmt):
    proj = dict(relion4=relion4, warp=warp)[fmt]
    cluster = _run(sim, proj["ds"], tmp_path)
    code, _, err = _cli(["export-star", "--run", tmp_path, "--out", tmp_path / "c.star", "--split-classes"])
    assert code == 0, err
    src = starfile.read(proj["star"], always_dict=True, parse_as_string=TEXT)
    parts0 = src.get("particles", next(iter(src.values())))
    ks = sorted(set(cluster[cluster >= 0]))
    assert sorted(f.name for f in tmp_path.glob("c*.star")) == ["c.star"] + [f"c_class{k}.star" for k in ks]
    for f in tmp_path.glob("c*.star"):
        got = starfile.read(f, always_dict=True, parse_as_string=TEXT)
        assert list(got)[-2:] == ["optics", "particles"]
        p = got["particles"]
        if "optics" in src:
            pd.testing.assert_frame_equal(got["optics"], src["optics"])          # as RELION wrote it
        have = set(p) | set(got["optics"])
        assert set(parts0) <= have, f"{f.name} lost {sorted(set(parts0) - have)}"
        want = parts0.set_index("rlnImageName").loc[p.rlnImageName].reset_index()
        same = [c for c in parts0 if c in p and c not in ANGLES + ORIGINS]          # the run's poses: compared below
        pd.testing.assert_frame_equal(p[same], want[same], check_dtype=False, atol=1e-6)  # text as text: "01"
        i = np.array([parts0.rlnImageName.tolist().index(n) for n in p.rlnImageName])
        assert p.rlnClassNumber.tolist() == (cluster[i] + 1).tolist()
        R, sh = poses_from_relion(p, BOX, sim["vs"])
        np.testing.assert_allclose(R.numpy(), sim["R"][i], atol=1e-6)
        np.testing.assert_allclose(sh.numpy(), sim["shift"][i], atol=1e-6)
        if f.name != "c.star":
            assert set(p.rlnClassNumber) == {int(f.stem.split("class")[1]) + 1}


def _copy(src, dst):
    shutil.copytree(src.parent, dst)
    return dst / src.name


def test_each_check_can_fail(sim, relion4, warp, tmp_path):
    "The checks above see a wrong volume, flag, tomogram name; a CTF volume of the wrong shape is refused, naming it."
    star = _copy(relion4["star"], tmp_path / "p")
    ctf = star.parent / starfile.read(star)["particles"].rlnCtfImage[3]
    vol, vs = read_mrc(ctf)
    write_mrc(ctf, vol * 1.1, vs)                                               # one particle's volume off by 10 %
    _import(star, tmp_path / "ds")
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(_weights(tmp_path / "ds"), sim["w"], rtol=1e-3, atol=1e-6)
    assert _import(relion4["star"], tmp_path / "ds2", "--ctf-premultiplied", "no").endswith("not CTF-premultiplied")
    with pytest.raises(AssertionError):                                         # CTF² read as the CTF: w = H⁴
        np.testing.assert_allclose(_weights(tmp_path / "ds2"), sim["w"], rtol=1e-3, atol=1e-6)
    assert dataset_info(tmp_path / "ds2").get("ctf_premultiplied") is None
    plain = starfile.read(relion4["star"], always_dict=True)["particles"]       # starfile alone: "01" becomes 1
    assert plain.rlnTomoName.tolist() != _tomo_names(sim["t"], "{:02d}")
    write_mrc(ctf, vol[:, :, : BOX // 2 + 2], vs)                               # neither N³ nor N×N×(N/2+1)
    code, out, err = _cli(["import-star", star, "--out", tmp_path / "bad"])
    assert code == 2 and err.count("\n") == 1 and not (tmp_path / "bad").exists()
    assert f"{ctf}: CTF volume of shape [16, 16, 10] (z, y, x); expected for box 16 [16, 16, 16] (full)" in err
    code, out, err = _cli(["import-star", warp["star"], "--out", tmp_path / "neg", "--ctf-premultiplied", "yes"])
    assert code == 0 and "CTF-premultiplied" in out                             # |H| ≥ 0 passes as CTF², but:
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(_weights(tmp_path / "neg"), sim["w"], rtol=3e-3, atol=1e-6)


def test_missing_ctf_volumes(sim, relion4, tmp_path):
    "All CTF volumes gone: imported without weights, said in a second line; some gone: refused, naming the first."
    star = _copy(relion4["star"], tmp_path / "p")
    files = [star.parent / f for f in starfile.read(star)["particles"].rlnCtfImage]
    files[5].unlink()
    code, out, err = _cli(["import-star", star, "--out", tmp_path / "ds"])
    assert code == 2 and f"{files[5]}: CTF volume not found (1 of 12 missing)" in err
    for f in files[:5] + files[6:]:
        f.unlink()
    code, out, err = _cli(["import-star", star, "--out", tmp_path / "ds"])
    lines = out.splitlines()
    assert code == 0 and lines[0].endswith("no CTF volumes, CTF-premultiplied"), out
    assert lines[1].startswith("import-star: rlnCtfImage: none of its 12 CTF volumes found") and len(lines) == 3
    assert not (tmp_path / "ds" / "weights.npy").exists()


def test_a_tiny_run_on_the_imported_project_and_its_per_class_files(relion4, tmp_path):
    "train → embed → cluster → export-star --split-classes, export-maps; embedding again removes the per-class files."
    run = tmp_path / "run"
    for argv in (["train", "--model", "beta_vae", "--data", relion4["ds"], "--epochs", 1, "--out", run, "--set",
                  "channels=[8]", "--latent-dim", 2, "--batch-size", 6, "--quiet"], ["embed", "--run", run],
                 ["cluster", "--run", run, "--k", 2, "--no-classify", "--refine", 0],
                 ["export-star", "--run", run, "--split-classes"], ["export-maps", "--run", run]):
        code, _, err = _cli(argv)
        assert code == 0, (argv[0], err)
    per_class = ["maps/class0.mrc", "maps/class1.mrc", "maps/classes.cxc", "maps/points.csv",
                 "particles_relion_class0.star", "particles_relion_class1.star"]
    assert all((run / f).is_file() for f in per_class)
    src = starfile.read(relion4["star"], always_dict=True, parse_as_string=TEXT)["particles"]
    for k in (0, 1):
        got = starfile.read(run / f"particles_relion_class{k}.star", always_dict=True, parse_as_string=TEXT)
        want = src.set_index("rlnImageName").loc[got["particles"].rlnImageName]
        assert got["particles"].rlnTomoName.tolist() == want.rlnTomoName.tolist()   # "01", not 1
    assert _cli(["embed", "--run", run])[0] == 0                                 # a new embedding: older results go
    assert not any((run / f).exists() for f in per_class + ["particles_relion.star", "metrics.json"])
