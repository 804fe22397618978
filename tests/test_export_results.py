"""Results back out per class: `export-star --split-classes/--select` (RELION), `export-maps` (MRC + ChimeraX .cxc,
napari points). A RELION 5 style project is imported; the run's embedding and class volumes are written by hand for
the fast tests, and made by training and clustering in the slow one."""
import contextlib, io, shlex
from pathlib import Path
import mrcfile
import numpy as np
import pandas as pd
import pytest
import starfile
import torch
from cryo_disent.app.cli import main
from cryo_disent.app.runs import clusters_fingerprint, write_json
from cryo_disent.data.datasets import load_dataset
from cryo_disent.data.io import write_mrc, write_star
from cryo_disent.data.relion import ANGLES, ORIGINS, poses_from_relion
from cryo_disent.physics.geometry import random_rotations
from cryo_disent.physics.simulate import simulate_dataset

OURS = ANGLES + ORIGINS + ["rlnClassNumber"]  # the columns export-star sets; every other original column is kept


def _cli(argv) -> tuple:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A RELION 5 project (12 subtomograms, two tomograms, two optics groups, RELION's own poses and classes), imported,
    and a run on it: poses, three classes and one unassigned particle, class averages in classes.npz."""
    d = tmp_path_factory.mktemp("exp")
    sim = simulate_dataset("seed004", d / "sim", n_per_class=3, box=16, snr=10.0, mwa=0, seed=0, progress=False)
    vol, t = load_dataset(sim)
    n, vs = len(vol), float(t.voxel_size.iloc[0])
    names = [f"Extract/job010/Subtomograms/TS_0{1 + i % 2}/{i + 1}_subtomo.mrc" for i in range(n)]
    for i, f in enumerate(names):
        (d / f).parent.mkdir(parents=True, exist_ok=True)
        write_mrc(d / f, np.asarray(vol[i]), voxel_size=vs)
    optics = pd.DataFrame(dict(rlnOpticsGroup=[1, 2], rlnOpticsGroupName=["optics1", "optics2"],
                               rlnTomoTiltSeriesPixelSize=[vs / 2] * 2, rlnTomoSubtomogramBinning=[2.0] * 2,
                               rlnImageSize=[16] * 2, rlnImageDimensionality=[3] * 2, rlnVoltage=[300.0] * 2))
    rng = np.random.default_rng(0)
    parts = pd.DataFrame(dict(
        rlnTomoName=[f"TS_0{1 + i % 2}" for i in range(n)], rlnTomoParticleName=[f"TS_0{1 + i % 2}/{i + 1}" for i in range(n)],
        rlnCoordinateX=rng.uniform(0, 500, n).round(3), rlnCoordinateY=rng.uniform(0, 500, n).round(3),
        rlnCoordinateZ=rng.uniform(0, 200, n).round(3), rlnImageName=names,
        rlnCtfImage=[f"Extract/job010/Subtomograms/TS_0{1 + i % 2}/{i + 1}_stack2d_ctf.mrc" for i in range(n)],
        rlnOpticsGroup=[1 + i % 2 for i in range(n)], rlnAngleRot=12.5, rlnAngleTilt=90.0, rlnAnglePsi=-45.0,
        rlnOriginXAngst=1.5, rlnOriginYAngst=0.0, rlnOriginZAngst=-2.25, rlnClassNumber=7, rlnRandomSubset=[1 + i % 2 for i in range(n)],
        rlnGroupNumber=3))
    (d / "Refine3D/job012").mkdir(parents=True)
    src = d / "Refine3D/job012/run_data.star"
    write_star(src, {"general": {"rlnTomoSubTomosAre2DStacks": 0}, "optics": optics, "particles": parts})
    code, out, err = _cli(["import-star", src, "--out", d / "ds", "--quiet"])
    assert code == 0, err
    run = d / "run"
    write_json(run / "config.json", dict(run=dict(data=str(d / "ds"))))
    cluster = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, -1])
    R = random_rotations(n, generator=torch.Generator().manual_seed(0)).numpy()
    sh = rng.uniform(-1, 1, (n, 3))
    np.savez(run / "embedding.npz", index=np.arange(n), rotation=R, translation=sh, cluster=cluster,
             label=np.full(n, -1), content=np.zeros((n, 2)))
    avg = np.stack([np.asarray(vol)[cluster == k].mean(0) for k in range(3)]).astype(np.float32)
    np.savez(run / "classes.npz", cluster=np.arange(3), average=avg, clusters=np.array(clusters_fingerprint(cluster)))
    return dict(d=d, src=src, run=run, vs=vs, cluster=cluster, R=R, sh=sh, avg=avg)


def _original(p):
    return starfile.read(p["src"], always_dict=True)


def _same_values(got: pd.DataFrame, want: pd.DataFrame):
    "Every original column but ours, with the same values, row for row (matched by rlnImageName)."
    want = want.set_index("rlnImageName").loc[got["rlnImageName"]].reset_index()
    keep = [c for c in want if c not in OURS]
    assert set(keep) <= set(got), f"missing original columns: {sorted(set(keep) - set(got))}"
    pd.testing.assert_frame_equal(got[keep].reset_index(drop=True), want[keep].reset_index(drop=True), check_dtype=False)


def test_split_classes_are_whole_relion_files_with_every_original_column(project, tmp_path):
    p = project
    code, out, err = _cli(["export-star", "--run", p["run"], "--out", tmp_path / "poses.star", "--split-classes"])
    assert code == 0, err
    src = _original(p)
    files = sorted(tmp_path.glob("*.star"))
    assert [f.name for f in files] == ["poses.star", "poses_class0.star", "poses_class1.star", "poses_class2.star"]
    for f in files:
        blocks = starfile.read(f, always_dict=True)
        assert list(blocks) == ["general", "optics", "particles"], f
        pd.testing.assert_frame_equal(blocks["optics"], src["optics"])            # both optics groups, as imported
        assert int(np.ravel(blocks["general"]["rlnTomoSubTomosAre2DStacks"])[0]) == 0
        got = blocks["particles"]
        _same_values(got, src["particles"])
        assert set(got) == set(src["particles"]), "no column added but ours, none of the optics group's"
        rows = src["particles"].rlnImageName.tolist()
        i = np.array([rows.index(n) for n in got.rlnImageName])
        assert got.rlnClassNumber.tolist() == (p["cluster"][i] + 1).tolist()      # 1-based, 0 = unassigned
        R, t = poses_from_relion(got, 16, p["vs"])                                 # passive ZYZ and Å origins
        np.testing.assert_allclose(R.numpy(), p["R"][i], atol=1e-6)
        np.testing.assert_allclose(t.numpy(), p["sh"][i], atol=1e-6)
    assert len(starfile.read(files[0])["particles"]) == 12                          # every particle in the main STAR
    for k in range(3):
        got = starfile.read(tmp_path / f"poses_class{k}.star")["particles"]
        assert set(got.rlnClassNumber) == {k + 1} and len(got) == int((p["cluster"] == k).sum())


def test_select_writes_only_the_chosen_classes(project, tmp_path):
    p = project
    code, out, err = _cli(["export-star", "--run", p["run"], "--out", tmp_path / "sel.star", "--split-classes",
                           "--select", "2,0"])
    assert code == 0, err
    assert sorted(f.name for f in tmp_path.glob("*.star")) == ["sel.star", "sel_class0.star", "sel_class2.star"]
    main_star = starfile.read(tmp_path / "sel.star")["particles"]
    assert sorted(set(main_star.rlnClassNumber)) == [1, 3] and len(main_star) == int(np.isin(p["cluster"], [0, 2]).sum())
    _same_values(main_star, _original(p)["particles"])
    code, out, err = _cli(["export-star", "--run", p["run"], "--out", tmp_path / "one.star", "--select", "1"])
    assert code == 0 and set(starfile.read(tmp_path / "one.star")["particles"].rlnClassNumber) == {2}, err
    assert not list(tmp_path.glob("one_class*"))                                    # no per-class files without --split-classes


@pytest.mark.parametrize("args, words", [
    (["--select", "0,5"], "class(es) [5] not in the run; its classes are [0, 1, 2]"),
    (["--select", "0,x"], "--select 0,x: expected class numbers separated by commas"),
    (["--select", ""], "--select : expected class numbers"),
])
def test_bad_selections_are_one_line_and_write_nothing(project, tmp_path, args, words):
    for verb in (["export-star", "--out", tmp_path / "x.star", "--split-classes"], ["export-maps", "--out", tmp_path / "m"]):
        code, out, err = _cli([verb[0], "--run", project["run"], *verb[1:], *args])
        assert code == 2 and err.count("\n") == 1 and words in err, err
        assert not list(tmp_path.rglob("*.*")), "nothing written"


def test_a_run_without_clusters_is_refused_in_one_line(project, tmp_path):
    run = tmp_path / "run"
    write_json(run / "config.json", dict(run=dict(data=str(project["d"] / "ds"))))
    np.savez(run / "embedding.npz", index=np.arange(12), rotation=project["R"], translation=project["sh"],
             label=np.full(12, -1), content=np.zeros((12, 2)))
    for argv, words in ((["export-star", "--split-classes"], "no clusters to split or select"),
                        (["export-star", "--select", "0"], "no clusters to split or select"),
                        (["export-maps"], "classes.npz: not found; expected a clustered run")):
        code, out, err = _cli([argv[0], "--run", run, *argv[1:]])
        assert code == 2 and err.count("\n") == 1 and words in err, err
    assert sorted(f.name for f in run.iterdir()) == ["config.json", "embedding.npz"]


# A grammar of the ChimeraX commands export-maps may write (ChimeraX's usage lines for open, volume, tile, view);
# no ChimeraX here, so every line is parsed against it, and a model number must name a map opened above it.
NUMBER = r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?"


def _is_number(s: str) -> bool:
    import re
    return re.fullmatch(NUMBER, s) is not None


def _model(s: str, opened: int) -> bool:
    return s.startswith("#") and s[1:].isdigit() and 1 <= int(s[1:]) <= opened


def parse_cxc(text: str) -> list:
    "The commands of a .cxc, each `(verb, args)`; raises ValueError naming the first malformed line."
    cmds, opened = [], 0
    for no, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        try:
            words = shlex.split(s)
        except ValueError:
            raise ValueError(f"line {no}: unbalanced quotes: {line!r}") from None
        verb, args = words[0], words[1:]
        ok = False
        if verb == "open":  # open PATH [name NAME] [format mrc]
            ok = len(args) in (1, 3, 5) and args[0].lower().endswith((".mrc", ".map")) and all(
                k in ("name", "format") for k in args[1::2])
            opened += ok
        elif verb == "volume":  # volume #N (level X | style surface|mesh|image | color C)+
            opts = args[1:]
            ok = bool(args) and _model(args[0], opened) and len(opts) >= 2 and len(opts) % 2 == 0 and all(
                (k == "level" and _is_number(v)) or (k == "style" and v in ("surface", "mesh", "image"))
                or (k == "color" and v.isalpha()) for k, v in zip(opts[::2], opts[1::2]))
        elif verb == "tile":  # tile [#N,...] [columns N] [spacingFactor F]
            ok = all(k in ("columns", "spacingFactor") and _is_number(v) for k, v in zip(args[::2], args[1::2])) \
                and len(args) % 2 == 0
        elif verb == "view":  # view [#N]
            ok = not args or (len(args) == 1 and _model(args[0], opened))
        if not ok:
            raise ValueError(f"line {no}: not a ChimeraX command export-maps writes: {line!r}")
        cmds.append((verb, args))
    return cmds


GOOD = "# comment\nopen class0.mrc\nopen class2.mrc\nvolume #1 level 0.5 style surface\nvolume #2 level -1e-3 style surface\ntile\nview\n"


@pytest.mark.parametrize("bad", [
    "volume 1 level 0.5 style surface",        # model number without #
    "volume #3 level 0.5 style surface",       # no such model
    "volume #1 level style surface",           # level without a value
    "volume #1 level nan style surface",       # not a number
    "volume #1 level 0.5 style solidish",      # no such style
    "open",                                    # nothing to open
    "open class 0.mrc",                        # unquoted space
    'open "class0.mrc',                        # unbalanced quote
    "tile everything",
    "title",
])
def test_the_cxc_grammar_refuses_a_malformed_line(bad):
    assert [v for v, _ in parse_cxc(GOOD)] == ["open", "open", "volume", "volume", "tile", "view"]
    with pytest.raises(ValueError, match="line 5"):
        parse_cxc(GOOD.replace("volume #2 level -1e-3 style surface", bad))


def test_export_maps_writes_maps_cxc_and_napari_points(project, tmp_path):
    p = project
    code, out, err = _cli(["export-maps", "--run", p["run"], "--out", tmp_path / "maps"])
    assert code == 0, err
    assert sorted(f.name for f in (tmp_path / "maps").iterdir()) == ["class0.mrc", "class1.mrc", "class2.mrc",
                                                                      "classes.cxc", "points.csv"]
    for k in range(3):
        with mrcfile.open(tmp_path / "maps" / f"class{k}.mrc") as m:
            np.testing.assert_allclose(m.voxel_size.tolist(), [p["vs"]] * 3, rtol=1e-6)
            np.testing.assert_allclose(m.header.origin.tolist(), [-8 * p["vs"]] * 3, rtol=1e-6)  # voxel N//2 at 0 Å
            np.testing.assert_array_equal(m.data, p["avg"][k])
    cxc = (tmp_path / "maps" / "classes.cxc").read_text()
    cmds = parse_cxc(cxc)
    assert [a for v, a in cmds if v == "open"] == [["class0.mrc"], ["class1.mrc"], ["class2.mrc"]]
    levels = [float(a[2]) for v, a in cmds if v == "volume"]
    for k, lv in enumerate(levels):  # mean ± 2σ on the side of the density
        a = p["avg"][k].astype(np.float64)
        assert abs(abs(lv - a.mean()) - 2 * a.std()) < 1e-4 * a.std() and (a.min() < lv < a.max())
    assert [v for v, _ in cmds][-2:] == ["tile", "view"]
    pts = pd.read_csv(tmp_path / "maps" / "points.csv")
    assert list(pts) == ["index", "axis-0", "axis-1", "axis-2", "tomogram", "class"]
    src = _original(p)["particles"]
    np.testing.assert_array_equal(pts[["axis-0", "axis-1", "axis-2"]].to_numpy(),
                                  src[["rlnCoordinateZ", "rlnCoordinateY", "rlnCoordinateX"]].to_numpy())  # z, y, x
    assert pts.tomogram.tolist() == src.rlnTomoName.tolist() and pts["class"].tolist() == p["cluster"].tolist()
    assert "axis-0/1/2 = z, y, x in pixels" in out


def test_export_maps_select_and_no_coordinates(project, tmp_path):
    p = project
    code, out, err = _cli(["export-maps", "--run", p["run"], "--out", tmp_path / "m", "--select", "1"])
    assert code == 0, err
    assert sorted(f.name for f in (tmp_path / "m").iterdir()) == ["class1.mrc", "classes.cxc", "points.csv"]
    assert set(pd.read_csv(tmp_path / "m" / "points.csv")["class"]) == {1}
    assert [a for v, a in parse_cxc((tmp_path / "m" / "classes.cxc").read_text()) if v == "open"] == [["class1.mrc"]]
    code, out, err = _cli(["export-maps", "--run", p["run"], "--out", tmp_path / "m", "--select", "1"])
    assert code == 2 and "class1.mrc: exists; pass --overwrite to replace it" in err
    assert _cli(["export-maps", "--run", p["run"], "--out", tmp_path / "m", "--select", "1", "--overwrite"])[0] == 0
    run = tmp_path / "simrun"  # simulated data: no tomogram coordinates
    sim = simulate_dataset("seed004", tmp_path / "sim", n_per_class=1, box=16, snr=10.0, mwa=0, seed=0, progress=False)
    write_json(run / "config.json", dict(run=dict(data=str(sim))))
    np.savez(run / "embedding.npz", index=np.arange(4), cluster=np.arange(4), label=np.arange(4), content=np.zeros((4, 2)))
    np.savez(run / "classes.npz", cluster=np.arange(4), average=np.load(sim / "volumes.npy"))
    code, out, err = _cli(["export-maps", "--run", run])
    assert code == 0 and "no tomogram coordinates in the particle table: no points.csv written" in out, err
    assert sorted(f.name for f in (run / "maps").iterdir()) == [f"class{k}.mrc" for k in range(4)] + ["classes.cxc"]


@pytest.mark.slow
def test_a_trained_and_clustered_run_exports_per_class(project, tmp_path):
    "The whole chain on the imported project: train, embed, cluster (3 classes), export-star --split-classes, export-maps."
    from cryo_disent.app.pipelines import cluster_run, embed_folder, train_on_folder
    p = project
    m = train_on_folder(p["d"] / "ds", tmp_path / "run", "harmony3d", dict(latent_dim=2),
                        dict(epochs=1, batch_size=6, progress=False), val_fraction=0.0)
    embed_folder(m, None, tmp_path / "run")
    cluster_run(tmp_path / "run", None, m, k=3, progress=False, classify=dict(k_max=3, restarts=1))
    emb = np.load(tmp_path / "run/embedding.npz")
    code, out, err = _cli(["export-star", "--run", tmp_path / "run", "--split-classes"])
    assert code == 0, err
    ks = sorted(set(emb["cluster"][emb["cluster"] >= 0].tolist()))
    assert sorted(f.name for f in (tmp_path / "run").glob("particles_relion_class*.star")) == [
        f"particles_relion_class{k}.star" for k in ks]
    for k in ks:
        got = starfile.read(tmp_path / f"run/particles_relion_class{k}.star")["particles"]
        _same_values(got, _original(p)["particles"])
        assert set(got.rlnClassNumber) == {k + 1}
    code, out, err = _cli(["export-maps", "--run", tmp_path / "run"])
    assert code == 0, err
    for k in ks:
        with mrcfile.open(tmp_path / f"run/maps/class{k}.mrc") as mrc:
            assert mrc.voxel_size.x == pytest.approx(p["vs"], rel=1e-6) and mrc.header.origin.x == pytest.approx(-8 * p["vs"], rel=1e-6)
    assert len(parse_cxc((tmp_path / "run/maps/classes.cxc").read_text())) == 2 * len(ks) + 2
    assert (tmp_path / "run/maps/points.csv").is_file()
