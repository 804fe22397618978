"RELION interop through the CLI: a RELION 5 style project in, a run's poses out (`nbs/24_data.relion.ipynb` holds the unit examples)."
import contextlib, io
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
import torch
from cryo_disent.app.cli import main
from cryo_disent.data.datasets import VolumeDataset, dataset_info, load_dataset
from cryo_disent.physics.geometry import quat_to_matrix
from cryo_disent.data.io import read_star, write_mrc, write_star
from cryo_disent.app.pipelines import embed_folder, train_on_folder
from cryo_disent.data.relion import ANGLES, ORIGINS, poses_from_relion
from cryo_disent.physics.simulate import simulate_dataset


def _cli(argv) -> tuple:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err): code = main([str(a) for a in argv])
    return code, out.getvalue() + err.getvalue()


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    "A RELION 5 project: one subtomogram .mrc per particle under Extract/, the STAR two folders below the project."
    d = tmp_path_factory.mktemp("relion")
    sim = simulate_dataset("seed004", d / "sim", n_per_class=3, box=16, snr=10.0, mwa=0, seed=0, progress=False)
    vol, t = load_dataset(sim)
    vs = float(t.voxel_size.iloc[0])
    names = []
    for i in range(len(vol)):
        names.append(f"Extract/job010/Subtomograms/TS_01/{i + 1}_subtomo.mrc")
        (d / names[-1]).parent.mkdir(parents=True, exist_ok=True)
        write_mrc(d / names[-1], np.asarray(vol[i]) * 7 + 3, voxel_size=vs)
    optics = pd.DataFrame(dict(rlnOpticsGroup=[1], rlnOpticsGroupName=["optics1"], rlnTomoTiltSeriesPixelSize=[vs / 2],
                               rlnTomoSubtomogramBinning=[2.0], rlnImageSize=[16], rlnImageDimensionality=[3]))
    parts = pd.DataFrame(dict(rlnTomoName=["TS_01"] * len(vol), rlnCenteredCoordinateXAngst=np.arange(len(vol)) * 10.0,
                              rlnCenteredCoordinateYAngst=0.0, rlnCenteredCoordinateZAngst=0.0, rlnImageName=names,
                              rlnOpticsGroup=1, rlnClassNumber=t.label.to_numpy() + 1))
    (d / "Refine3D" / "job012").mkdir(parents=True)
    write_star(d / "Refine3D/job012/run_data.star", {"optics": optics, "particles": parts})
    return d, sim, vs


def test_import_star_cli(project, tmp_path):
    d, sim, vs = project
    code, msg = _cli(["import-star", d / "Refine3D/job012/run_data.star", "--out", tmp_path / "ds", "--label-column", "rlnClassNumber", "--quiet"])
    assert code == 0, msg
    ds = VolumeDataset.from_folder(tmp_path / "ds")
    ref = VolumeDataset.from_folder(sim)
    np.testing.assert_allclose(ds[4]["x"].numpy(), ref[4]["x"].numpy(), atol=1e-4)  # standardised: the ×7 + 3 is gone
    assert dataset_info(tmp_path / "ds")["meta"]["voxel_size"] == pytest.approx(vs, abs=1e-4)   # tilt-series px × binning
    assert [int(ds[i]["label"]) for i in range(len(ds))] == ref.labels.tolist()


def test_import_star_errors_are_one_line(project, tmp_path):
    d, _, _ = project
    star = read_star(d / "Refine3D/job012/run_data.star", block="particles")
    optics = read_star(d / "Refine3D/job012/run_data.star", block="optics")
    write_star(tmp_path / "missing.star", {"optics": optics, "particles": star.assign(rlnImageName=star.rlnImageName.str.replace("_subtomo", "_gone"))})
    code, msg = _cli(["import-star", tmp_path / "missing.star", "--out", tmp_path / "x", "--root", d])
    assert code == 2 and msg.count("\n") == 1 and "1_gone.mrc: particle file not found (12 of 12 files missing)" in msg
    write_mrc(tmp_path / "big.mrc", np.zeros((20, 20, 20)), voxel_size=1.0)
    odd = star.copy()
    odd.loc[3, "rlnImageName"] = str(tmp_path / "big.mrc")
    write_star(tmp_path / "mixed.star", {"optics": optics, "particles": odd})
    code, msg = _cli(["import-star", tmp_path / "mixed.star", "--out", tmp_path / "x", "--root", d])
    assert code == 2 and "big.mrc: particle shape (20, 20, 20) differs from (16, 16, 16)" in msg and not (tmp_path / "x").exists()


BAD_STARS = [  # (what is changed, the words of its one-line refusal)
    (lambda o, t: (o, t.iloc[:0]), "has no rows"),
    (lambda o, t: (o.assign(rlnTomoTiltSeriesPixelSize=0.0), t), "rlnTomoTiltSeriesPixelSize of particle row 1 is 0.0"),
    (lambda o, t: (o.assign(rlnTomoTiltSeriesPixelSize=-5.0), t), "expected a finite number > 0"),
    (lambda o, t: (o, t.assign(rlnAngleRot=["x"] * len(t))), "rlnAngleRot of particle row 1 is 'x'"),
    (lambda o, t: (o, t.assign(rlnAngleRot=[float("nan")] * len(t))), "has missing values"),
    (lambda o, t: (o.assign(rlnImageDimensionality=2), t.drop(columns=["rlnTomoName"])), "rlnImageDimensionality [2] but the files hold 3-D"),
]


@pytest.mark.parametrize("case", range(len(BAD_STARS)))
def test_bad_star_values_are_refused_not_coerced(project, tmp_path, case):
    d, _, _ = project
    src = d / "Refine3D/job012/run_data.star"
    change, words = BAD_STARS[case]
    optics, parts = change(read_star(src, block="optics"), read_star(src, block="particles", as_text=["rlnImageName", "rlnTomoName"]))
    write_star(tmp_path / "bad.star", {"optics": optics, "particles": parts})
    code, msg = _cli(["import-star", tmp_path / "bad.star", "--out", tmp_path / "x", "--root", d])
    assert code == 2 and msg.count("\n") == 1 and words in msg and not (tmp_path / "x").exists(), msg


def test_a_whole_mrcs_stack_without_an_index_is_refused(project, tmp_path):
    from cryo_disent.data.io import write_mrcs
    d, _, _ = project
    src = d / "Refine3D/job012/run_data.star"
    write_mrcs(tmp_path / "stack.mrcs", np.zeros((3, 16, 16, 16), np.float32), voxel_size=1.0)
    parts = read_star(src, block="particles", as_text=["rlnImageName", "rlnTomoName"])
    write_star(tmp_path / "s.star", {"optics": read_star(src, block="optics"), "particles": parts.assign(rlnImageName=str(tmp_path / "stack.mrcs"))})
    code, msg = _cli(["import-star", tmp_path / "s.star", "--out", tmp_path / "x", "--root", d])
    assert code == 2 and msg.count("\n") == 1 and "names a whole .mrcs stack" in msg, msg


def test_export_star_of_a_trained_run(project, tmp_path):
    "A tiny harmony3d run on imported particles: export-star names RELION's own files and its poses invert exactly."
    d, _, vs = project
    assert _cli(["import-star", d / "Refine3D/job012/run_data.star", "--out", tmp_path / "ds", "--quiet"])[0] == 0
    m = train_on_folder(tmp_path / "ds", tmp_path / "run", "harmony3d", dict(latent_dim=2),
                        dict(epochs=1, batch_size=6, progress=False), val_fraction=0.0)
    emb = embed_folder(m, None, tmp_path / "run")
    code, msg = _cli(["export-star", "--run", tmp_path / "run"])
    assert code == 0, msg
    df = read_star(tmp_path / "run/particles_relion.star", block="particles")
    optics = read_star(tmp_path / "run/particles_relion.star", block="optics")
    src = read_star(d / "Refine3D/job012/run_data.star", block="particles")
    assert df.rlnImageName.tolist() == src.rlnImageName.tolist() and df.rlnTomoName.tolist() == src.rlnTomoName.tolist()
    assert set(ANGLES + ORIGINS) <= set(df) and "rlnClassNumber" not in df   # not clustered yet
    assert optics.rlnOpticsGroupName.tolist() == ["optics1"]                  # the imported optics table
    R, t = poses_from_relion(df, 16, vs)
    np.testing.assert_allclose(R.numpy(), emb["rotation"], atol=1e-5)
    np.testing.assert_allclose(t.numpy(), emb["translation"], atol=1e-4)


def test_a_truncated_star_is_refused_in_one_line(project, tmp_path):
    "A STAR cut off mid-row (a copy that did not finish): refused, naming the file, never read as 'optics group [nan]'."
    d, _, _ = project
    text = (d / "Refine3D/job012/run_data.star").read_text()
    (tmp_path / "cut.star").write_text(text[:int(len(text) * 0.8)].rstrip("\n").rsplit(" ", 2)[0])
    code, msg = _cli(["import-star", tmp_path / "cut.star", "--out", tmp_path / "x", "--root", d])
    assert code == 2 and msg.count("\n") == 1 and "cut.star" in msg and "nan" not in msg.lower(), msg
    assert not (tmp_path / "x").exists()
