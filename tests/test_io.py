"Tests of `cryo_disent.data.io`: real EMDB map, MRC/MRCS/STAR round trips, folder indexing, and one InputError per bad input."
import gzip, io as stdio, os, re
from pathlib import Path

import mrcfile
import numpy as np
import pandas as pd
import pytest
import starfile
import torch

from cryo_disent.core import InputError
from cryo_disent.data.io import (FORMATS, class_from_filename, read_mrc, read_mrcs, read_npy, read_star, read_volume,
                            write_mrc, write_mrcs, write_star)
from cryo_disent.data.volume_files import VolumeFiles, folder_index, load_folder

REAL = Path(__file__).parent / "data" / "EMD-3197.map"


def valid(p) -> bool:
    return mrcfile.validate(p, print_file=stdio.StringIO())


def raises_naming(path, what=""):
    "`pytest.raises(InputError)` whose message contains the file name (and `what`)."
    pat = re.escape(Path(path).name) + (".*" + re.escape(what) if what else "")
    return pytest.raises(InputError, match=pat)


# ---------------------------------------------------------------- the real map
def test_real_map_header_and_data():
    vol, vs = read_mrc(REAL, require_cubic=True)
    assert vol.shape == (20, 20, 20) and vol.dtype == np.float32
    with mrcfile.open(REAL) as m:  # what the EMDB header says: 228 Å cell sampled 20× → 11.4 Å
        h = m.header
        assert (float(h.cella.x), int(h.mx), int(h.mapc), int(h.mapr), int(h.maps)) == (228.0, 20, 1, 2, 3)
        np.testing.assert_array_equal(vol, m.data)
        assert float(h.dmin) == pytest.approx(vol.min()) and float(h.dmax) == pytest.approx(vol.max())
    assert vs == pytest.approx(11.4, abs=1e-9)
    assert read_volume(REAL)[1] == vs
    assert FORMATS[".map"].peek(REAL) == ((20, 20, 20), vs)


def test_real_map_round_trip_validates(tmp_path):
    vol, vs = read_mrc(REAL)
    out = write_mrc(tmp_path / "copy.mrc", vol, voxel_size=vs)
    assert valid(out)  # the EMDB original declares nversion 0, ours is MRC2014
    back, vs2 = read_mrc(out)
    np.testing.assert_array_equal(back, vol)
    assert vs2 == pytest.approx(11.4, rel=1e-6)


# ---------------------------------------------------------------- MRC round trips
@pytest.mark.parametrize("suffix", [".mrc", ".map", ".rec"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
def test_mrc_round_trip(tmp_path, suffix, dtype):
    v = (np.random.default_rng(1).normal(size=(5, 6, 7)) * 100).astype(dtype)
    p = write_mrc(tmp_path / f"v{suffix}", v, voxel_size=4.2)
    assert valid(p)
    back, vs = read_mrc(p)
    assert back.dtype == np.float32 and back.shape == (5, 6, 7)
    np.testing.assert_allclose(back, v.astype(np.float32))
    assert vs == pytest.approx(4.2, rel=1e-6)
    with mrcfile.open(p) as m:
        assert float(m.header.dmean) == pytest.approx(float(v.astype(np.float32).mean()), rel=1e-4, abs=1e-4)
    assert sorted(os.listdir(tmp_path)) == [f"v{suffix}"]  # no temp file left behind


def test_torch_tensor_and_image(tmp_path):
    t = torch.arange(27, dtype=torch.float64).reshape(3, 3, 3).requires_grad_()
    back, _ = read_mrc(write_mrc(tmp_path / "t.mrc", t))
    np.testing.assert_array_equal(back, np.arange(27, dtype=np.float32).reshape(3, 3, 3))
    img = np.random.default_rng(2).normal(size=(8, 9)).astype(np.float32)
    p = write_mrc(tmp_path / "img.mrc", img, voxel_size=0.5)
    assert valid(p) and read_mrc(p)[0].shape == (8, 9) and read_mrc(p)[1] == 0.5


@pytest.mark.parametrize("shape", [(5, 4, 4), (1, 4, 4), (3, 4, 4, 4)])
def test_mrcs_round_trip(tmp_path, shape):
    x = np.random.default_rng(3).normal(size=shape).astype(np.float32)
    p = write_mrcs(tmp_path / "s.mrcs", x, voxel_size=2.0)
    assert valid(p)
    back, vs = read_mrcs(p)
    np.testing.assert_array_equal(back, x)
    assert vs == 2.0 and FORMATS[".mrcs"].peek(p) == (shape, 2.0)


def test_axis_order_follows_header(tmp_path):
    v = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)  # [z, y, x]
    for order, stored in [((3, 2, 1), v.transpose(2, 1, 0)), ((2, 1, 3), v.transpose(0, 2, 1)), ((1, 2, 3), v)]:
        p = tmp_path / f"o{''.join(map(str, order))}.mrc"
        with mrcfile.new(p) as m:  # columns, rows, sections hold MRC axes mapc, mapr, maps (1=x, 2=y, 3=z)
            m.set_data(np.ascontiguousarray(stored))
            m.header.mapc, m.header.mapr, m.header.maps = order
        np.testing.assert_array_equal(read_mrc(p)[0], v)
        assert FORMATS[".mrc"].peek(p)[0] == (2, 3, 4)


def test_overwrite_false(tmp_path):
    p = write_mrc(tmp_path / "v.mrc", np.zeros((2, 2, 2)))
    with raises_naming(p, "file exists"):
        write_mrc(p, np.ones((2, 2, 2)), overwrite=False)
    assert read_mrc(p)[0].max() == 0


def test_failed_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    p = write_mrc(tmp_path / "v.mrc", np.ones((3, 3, 3)), voxel_size=7.0)
    before = p.read_bytes()
    with raises_naming(p, "values are NaN or Inf"):
        write_mrc(p, np.full((3, 3, 3), np.inf))

    def half_write(data, filename, **kw):
        Path(filename).write_text("data_\nloop_\n_a #1\n1\n")
        raise OSError("disk full")
    monkeypatch.setattr(starfile, "write", half_write)
    with pytest.raises(OSError, match="disk full"):
        write_star(tmp_path / "p.star", pd.DataFrame(dict(a=[1])))
    assert p.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["v.mrc"]


# ---------------------------------------------------------------- STAR
def test_star_round_trip(tmp_path):
    df = pd.DataFrame(dict(index=np.arange(4), class_name=["1b23", "1dkg", "4v4r", "a b"], label=[0, 1, 2, -1],
                           qw=[1.0, 1 / 3, 0.1, np.sqrt(0.5)], shift_x=[0.0, -1.25, 1e-9, 3.0]))
    p = write_star(tmp_path / "particles.star", df)
    back = read_star(p)
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    assert back.qw.tolist() == df.qw.tolist()  # full precision, not starfile's default %.6f
    assert back.label.dtype.kind == "i"
    write_star(p, {"general": {"n": 4}, "particles": df})
    assert read_star(p).to_dict("records") == [{"n": 4}]
    pd.testing.assert_frame_equal(read_star(p, block="particles"), df, check_dtype=False)
    with raises_naming(p, "no data block 'optics'"):
        read_star(p, block="optics")


# ---------------------------------------------------------------- dispatch and folders
def test_read_volume_dispatch(tmp_path):
    v = np.random.default_rng(4).normal(size=(4, 4, 4))
    np.save(tmp_path / "v.npy", v)
    np.testing.assert_allclose(read_volume(tmp_path / "v.npy")[0], v.astype(np.float32))
    assert read_npy(tmp_path / "v.npy")[1] == 0.0
    write_mrc(tmp_path / "v.MRC", v, voxel_size=3.0)  # suffixes are case-insensitive
    assert read_volume(tmp_path / "v.MRC")[1] == 3.0
    with pytest.raises(InputError, match=r"v\.tif: unknown file type '\.tif'; expected one of \.mrc, \.map, \.rec, \.mrcs, \.npy"):
        read_volume(tmp_path / "v.tif")


def test_class_from_filename():
    assert [class_from_filename(n) for n in ["1b23_0001.mrc", "5mrc_a_b.npy", "aldolase.map", "x/y_1.mrc"]] == \
        ["1b23", "5mrc", "aldolase", "y"]


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "subtomos"; d.mkdir()
    rng = np.random.default_rng(5)
    for name in ["1b23_0", "1b23_1", "5mrc_0", "aldolase"]:
        write_mrc(d / f"{name}.mrc", rng.normal(size=(4, 4, 4)), voxel_size=10.0)
    np.save(d / "5mrc_1.npy", rng.normal(size=(4, 4, 4)))
    (d / "README.txt").write_text("not a volume")
    (d / ".1b23_9.mrc").write_text("hidden, half-written")
    return d


def test_folder_index(folder, tmp_path):
    idx = folder_index(folder, classes="prefix", labels={"aldolase.mrc": "aldolase"})
    assert list(idx.columns[:4]) == ["path", "class_name", "label", "shape"]
    assert [Path(p).name for p in idx.path] == ["1b23_0.mrc", "1b23_1.mrc", "5mrc_0.mrc", "5mrc_1.npy", "aldolase.mrc"]
    assert idx.class_name.tolist() == ["1b23", "1b23", "5mrc", "5mrc", "aldolase"]
    assert idx.label.tolist() == [0, 0, 1, 1, 2]
    assert idx["shape"].tolist() == [(4, 4, 4)] * 5 and idx.voxel_size.tolist() == [10, 10, 10, 0, 10]
    lab = pd.DataFrame(dict(filename=["aldolase.mrc", "1b23_1.mrc"], class_name=["0abc", "0abc"]))
    lab.to_csv(tmp_path / "lab.csv", index=False); write_star(tmp_path / "lab.star", lab)
    for labels in (lab, tmp_path / "lab.csv", str(tmp_path / "lab.star"), dict(zip(lab.filename, lab.class_name))):
        got = folder_index(folder, labels=labels)
        assert got.class_name.tolist() == ["1b23", "0abc", "5mrc", "5mrc", "0abc"]
        assert got.label.tolist() == [1, 0, 2, 2, 0]
    with pytest.raises(InputError, match="ghost_1.mrc"):
        folder_index(folder, labels={"ghost_1.mrc": "x"})
    with pytest.raises(InputError, match="'aldolase.mrc' is listed 2 times"):
        folder_index(folder, labels=pd.DataFrame(dict(filename=["aldolase.mrc"] * 2, class_name=["a", "b"])))
    with pytest.raises(InputError, match=r"unknown file type\(s\) \['\.png'\]"):
        folder_index(folder, suffixes=(".png",))


def test_files_without_a_class_prefix_are_unlabelled_not_one_class_each(folder):
    """A lone `aldolase.mrc` does not silently become its own class: the class rule is explicit."""
    assert folder_index(folder).label.tolist() == [-1] * 5  # auto: one file has no prefix → all unlabelled
    assert set(folder_index(folder).class_name) == {"unknown"}
    with raises_naming(folder / "aldolase.mrc", "no class prefix in the file name"):
        folder_index(folder, classes="prefix")
    (folder / "aldolase.mrc").unlink()
    assert folder_index(folder).label.tolist() == [0, 0, 1, 1]  # auto: every file has a prefix, two classes
    assert folder_index(folder, classes="none").label.tolist() == [-1] * 4
    for f in folder.glob("5mrc_*"): f.unlink()
    assert folder_index(folder).label.tolist() == [-1, -1]  # one shared prefix carries no class information
    assert folder_index(folder, classes="prefix").label.tolist() == [0, 0]


def test_load_folder(folder):
    X, table = load_folder(folder)
    assert X.shape == (5, 4, 4, 4) and X.dtype == np.float32
    np.testing.assert_allclose(X[3], np.load(folder / "5mrc_1.npy").astype(np.float32))
    np.testing.assert_array_equal(X[4], read_mrc(folder / "aldolase.mrc")[0])
    assert table.label.tolist() == [-1] * 5
    write_mrc(folder / "5mrc_2.mrc", np.zeros((6, 6, 6)))
    with pytest.raises(InputError, match=r"5mrc_2\.mrc: shape \(6, 6, 6\) differs from \(4, 4, 4\)"):
        load_folder(folder)


def test_volume_files_read_lazily(folder):
    stack = VolumeFiles(folder_index(folder))
    assert len(stack) == 5 and stack.shape == (5, 4, 4, 4)
    np.testing.assert_array_equal(stack[4], read_mrc(folder / "aldolase.mrc")[0])
    v = np.zeros((4, 4, 4), np.float32); v[0, 1, 2] = np.nan
    with mrcfile.new(folder / "aldolase.mrc", overwrite=True) as m:  # broken after indexing: found on access, by name
        m.set_data(v)
    with raises_naming(folder / "aldolase.mrc", "1 of 64 values are NaN or Inf"):
        stack[4]


# ---------------------------------------------------------------- bad input: one InputError naming the file
@pytest.fixture
def good_bytes(tmp_path):
    return write_mrc(tmp_path / "good.mrc", np.random.default_rng(6).normal(size=(6, 6, 6))).read_bytes()


@pytest.mark.parametrize("name,mutate,what", [
    ("trunc.mrc", lambda b: b[:-7], "needs 1888; expected a complete MRC file"),
    ("padded.mrc", lambda b: b + b"\0" * 8, "file is 1896 bytes"),
    ("short.mrc", lambda b: b[:600], "not a valid MRC file"),
    ("empty.map", lambda b: b"", "not a valid MRC file"),
    ("noise.rec", lambda b: bytes(np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8)), "Map ID string not found"),
    ("badmode.mrc", lambda b: b[:12] + np.int32(99).tobytes() + b[16:], "MRC mode 99; expected a real-valued mode"),
    ("complex.mrc", lambda b: b[:12] + np.int32(4).tobytes() + b[16:], "MRC mode 4; expected a real-valued mode"),
    ("gz.mrc", gzip.compress, "compressed (gzip/bzip2) MRC"),
])
def test_corrupt_mrc(tmp_path, good_bytes, name, mutate, what):
    p = tmp_path / name
    p.write_bytes(mutate(good_bytes))
    with raises_naming(p, what):
        read_volume(p)
    with raises_naming(p):
        folder_index(tmp_path, suffixes=(Path(name).suffix,))


def test_non_cubic(tmp_path):
    p = write_mrc(tmp_path / "flat_1.mrc", np.zeros((2, 4, 4)))
    assert read_mrc(p)[0].shape == (2, 4, 4)  # allowed unless asked
    with raises_naming(p, "shape (2, 4, 4); expected a cubic volume"):
        read_mrc(p, require_cubic=True)
    with raises_naming(p, "expected a cubic volume"):
        folder_index(tmp_path)
    np.save(tmp_path / "flat.npy", np.zeros((4, 4, 5)))
    with raises_naming(tmp_path / "flat.npy", "expected a cubic volume"):
        read_volume(tmp_path / "flat.npy", require_cubic=True)


def test_anisotropic_voxels(tmp_path):
    p = write_mrc(tmp_path / "aniso.mrc", np.zeros((4, 4, 4)), voxel_size=2.0)
    with mrcfile.open(p, mode="r+") as m:
        m.voxel_size = (2.0, 2.0, 3.0)  # x, y, z
    with raises_naming(p, "anisotropic voxel size"):
        read_mrc(p)
    assert read_mrcs(p)[1] == 2.0  # an image stack's z is the stack axis: only x and y must agree


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # mrcfile warns while we write the bad file
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite(tmp_path, bad):
    v = np.zeros((3, 3, 3), np.float32); v[1, 2, 0] = bad
    with mrcfile.new(tmp_path / "nf.mrc") as m:  # written with mrcfile directly: write_mrc refuses it
        m.set_data(v)
    np.save(tmp_path / "nf.npy", v)
    for f in ("nf.mrc", "nf.npy"):
        with raises_naming(tmp_path / f, "1 of 27 values are NaN or Inf"):
            read_volume(tmp_path / f)
    with raises_naming(tmp_path / "nf.mrc", "values are NaN or Inf"):
        load_folder(tmp_path)


def test_missing_and_unknown(tmp_path):
    with raises_naming(tmp_path / "ghost.mrc", "file not found"):
        read_mrc(tmp_path / "ghost.mrc")
    with raises_naming(tmp_path / "ghost.star", "file not found"):
        read_star(tmp_path / "ghost.star")
    (tmp_path / "notes.txt").write_text("x")
    with raises_naming(tmp_path / "notes.txt", "unknown file type '.txt'"):
        read_volume(tmp_path / "notes.txt")
    with raises_naming(tmp_path / "nowhere", "folder not found"):
        folder_index(tmp_path / "nowhere")


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no volumes here")
    with pytest.raises(InputError, match=r"empty: no \.mrc/\.map/\.npy files found"):
        folder_index(tmp_path / "empty")


def test_corrupt_npy_and_star(tmp_path):
    np.save(tmp_path / "v.npy", np.zeros((8, 8, 8)))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "v.npy").read_bytes()[:300])
    with raises_naming(tmp_path / "cut.npy", "not a valid .npy file"):
        read_volume(tmp_path / "cut.npy")
    np.save(tmp_path / "c.npy", np.zeros((2, 2, 2), np.complex64))
    with raises_naming(tmp_path / "c.npy", "expected real numbers"):
        read_volume(tmp_path / "c.npy")
    (tmp_path / "junk.star").write_text("this is not\na star file\n")
    with raises_naming(tmp_path / "junk.star", "no data blocks found"):
        read_star(tmp_path / "junk.star")


def test_writers_leave_nothing_on_failure(tmp_path):
    """A failed write (bad data) leaves no file and no temp file; writing into a new folder creates it."""
    with pytest.raises(InputError):
        write_mrc(tmp_path / "a.mrc", np.full((2, 2, 2), np.inf, np.float32))
    assert os.listdir(tmp_path) == []
    write_mrc(tmp_path / "new" / "a.mrc", np.zeros((2, 2, 2), np.float32))
    assert os.listdir(tmp_path / "new") == ["a.mrc"]
