"Integration tests of `cryo_disent.data.datasets` with the toy sets, and of loaders with worker processes (the notebook covers the units)."
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from scipy.spatial.transform import Rotation
import torch
from torch.utils.data import Dataset

from cryo_disent.core import InputError
from cryo_disent.data.datasets import VolumeDataset, load_dataset, save_dataset, split_indices, standardize
from cryo_disent.data.writer import open_dataset_writer
from cryo_disent.data.loaders import make_loader
from cryo_disent.data.toysets import alphanumeric, tetrominoes


def test_tetrominoes_through_a_dataset_folder(tmp_path):
    vols, table = tetrominoes(n_per_class=2, size=16, max_shift=1.0, seed=1)
    folder = save_dataset(tmp_path / "tetro", vols, table, generator="tetrominoes", seed=1)
    v, t = load_dataset(folder)
    assert isinstance(v, np.memmap) and np.array_equal(np.asarray(v), vols)
    pd.testing.assert_frame_equal(t.drop(columns=["qw", "qx", "qy", "qz", "shift_x", "shift_y", "shift_z"]),
                                  table.drop(columns=["qw", "qx", "qy", "qz", "shift_x", "shift_y", "shift_z"]))
    ds = VolumeDataset.from_folder(folder)
    for i in (0, 7, 17):
        it = ds[i]
        q = torch.tensor(table.loc[i, ["qw", "qx", "qy", "qz"]].to_numpy(np.float64))
        R_ref = Rotation.from_quat(q.numpy(), scalar_first=True).as_matrix()  # independent of our quaternion code
        torch.testing.assert_close(it["rotation"], torch.tensor(R_ref, dtype=torch.float32), atol=1e-6, rtol=0)
        torch.testing.assert_close(it["shift"], torch.tensor(table.loc[i, ["shift_x", "shift_y", "shift_z"]].to_numpy(np.float32)))
        torch.testing.assert_close(it["x"][0], standardize(torch.from_numpy(vols[i])), atol=1e-5, rtol=0)
        assert it["label"].item() == table.label[i] and it["index"].item() == i


def test_alphanumeric_items_are_2d(tmp_path):
    imgs, table = alphanumeric(n_per_class=3, size=20, classes="ab", held_out=("b",), max_shift=0.5)
    ds = VolumeDataset.from_folder(save_dataset(tmp_path / "alnum", imgs, table))
    it = ds[4]
    assert it["x"].shape == (1, 20, 20) and it["shift"].shape == (2,) and "rotation" not in it
    assert it["angle"].item() == pytest.approx(np.deg2rad(table.angle[4]), abs=1e-5)  # radians in tensors
    assert load_dataset(ds.path)[1].held_out.tolist() == [False] * 3 + [True] * 3


def test_loader_with_workers_matches_single_process(tmp_path):
    folder = save_dataset(tmp_path / "d", np.random.default_rng(0).normal(size=(23, 6, 6, 6)).astype(np.float32),
                          pd.DataFrame(dict(label=np.arange(23) % 3)))
    train, _ = split_indices(23, 0.2, seed=0)
    ds = VolumeDataset.from_folder(folder, indices=train)

    def run(workers):
        loader = make_loader(ds, 4, seed=7, num_workers=workers)
        return [(b["index"].tolist(), b["x"]) for _ in range(2) for b in loader]

    a, b, c = run(0), run(2), run(2)
    assert [i for i, _ in a] == [i for i, _ in b] == [i for i, _ in c]
    for (_, x), (_, y), (_, z) in zip(a, b, c):  # workers run 1 thread, the main process more: close, not the same bytes
        torch.testing.assert_close(x, y, rtol=0, atol=1e-6)
        assert torch.equal(y, z)  # the very same setting twice: the same bytes
    assert sorted(sum((i for i, _ in a[:len(a) // 2]), [])) == train.tolist()


class _Noise(Dataset):
    "Returns numpy-random numbers: checks that workers are seeded distinctly and reproducibly."
    def __len__(self): return 8
    def __getitem__(self, i): return torch.tensor([float(np.random.rand()), float(torch.utils.data.get_worker_info().id)])


def test_worker_seeds_are_distinct_and_reproducible():
    def run(seed):
        return torch.cat(list(make_loader(_Noise(), 2, shuffle=False, seed=seed, num_workers=2)))
    a, b, c = run(1), run(1), run(2)
    assert torch.equal(a, b) and not torch.equal(a[:, 0], c[:, 0])
    w0, w1 = a[a[:, 1] == 0, 0], a[a[:, 1] == 1, 0]
    assert len(w0) and len(w1) and not torch.equal(w0, w1)


def test_writer_interrupted_leaves_nothing(tmp_path):
    target = tmp_path / "sim"
    with pytest.raises(KeyboardInterrupt):
        with open_dataset_writer(target, (4, 4, 4), 10) as w:
            w.append(np.ones((5, 4, 4, 4)))
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InputError, match="overflows"):
        with open_dataset_writer(target, (4, 4, 4), 3) as w: w.append(np.ones((4, 4, 4, 4)))
    with pytest.raises(InputError, match="expected batch shape"):
        with open_dataset_writer(target, (4, 4, 4), 3) as w: w.append(np.ones((3, 4, 4, 5)))
    assert list(tmp_path.iterdir()) == []


def test_writer_refuses_half_filled_dataset(tmp_path):
    with pytest.raises(InputError, match="only 3 of 10 volumes"):
        with open_dataset_writer(tmp_path / "d", (4, 4, 4), 10) as w:
            w.append(np.ones((3, 4, 4, 4), np.float32))
    assert not (tmp_path / "d").exists()


def test_text_class_names_and_non_finite_meta_round_trip(tmp_path):
    import json
    vols = np.zeros((3, 4, 4, 4), np.float32)
    table = pd.DataFrame(dict(class_name=["007", "1e10", "inf"], label=[0, 1, 2]))
    folder = save_dataset(tmp_path / "d", vols, table, snr=float("inf"))
    assert load_dataset(folder)[1].class_name.tolist() == ["007", "1e10", "inf"]
    info = json.loads((folder / "dataset.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert info["meta"]["snr"] == "inf" and [c["name"] for c in info["classes"]] == ["007", "1e10", "inf"]


def test_split_and_sampler_edge_cases():
    with pytest.raises(InputError, match="1-D"):
        split_indices(4, 0.5, labels=np.zeros((4, 2)))
    from cryo_disent.data.loaders import EpochSampler
    a = list(EpochSampler(50, seed=1, epoch=1)); b = list(EpochSampler(50, seed=2, epoch=0))
    assert a != b  # (seed, epoch) streams do not overlap across neighbouring seeds


def test_dataset_json_that_is_not_an_object_is_one_clear_error(tmp_path):
    from cryo_disent.data.datasets import dataset_info
    folder = save_dataset(tmp_path / "d", np.zeros((2, 4, 4, 4), np.float32))
    for text, kind in (("[1, 2]", "list"), ("3", "int"), ('"x"', "str")):
        (folder / "dataset.json").write_text(text)
        with pytest.raises(InputError, match=f"dataset.json: holds a JSON {kind}; expected an object"):
            load_dataset(folder)
        with pytest.raises(InputError, match="expected an object"):
            dataset_info(folder)


def test_a_file_given_as_a_folder_says_it_is_a_file(tmp_path):
    folder = save_dataset(tmp_path / "d", np.zeros((2, 4, 4, 4), np.float32))
    with pytest.raises(InputError, match="volumes.npy: is a file; expected a folder"):
        VolumeDataset.from_folder(folder / "volumes.npy")
    with pytest.raises(InputError, match="d: not found"):
        load_dataset(tmp_path / "nope" / "d")


def test_non_finite_voxels_are_named_with_their_particle(tmp_path):
    from cryo_disent.data.datasets import data_fingerprint
    v = np.zeros((40, 4, 4, 4), np.float32); v[33, 1, 2, 3] = np.inf
    ds = VolumeDataset.from_folder(save_dataset(tmp_path / "d", v))
    with pytest.raises(InputError, match=r"volumes.npy: particle 33 has 1 NaN or Inf values"):
        data_fingerprint(ds, chunk_bytes=4096)  # the scan before a run: several chunks
    with pytest.raises(InputError, match=r"particle 33: 1 of 64 values are NaN or Inf"):
        ds[33]  # in-memory or unscanned data: named on first use instead of a NaN loss


def test_folder_of_mrc_files_is_a_lazy_dataset(tmp_path):
    from cryo_disent.data.datasets import data_fingerprint, dataset_info
    from cryo_disent.data.io import write_mrc
    from cryo_disent.data.volume_files import VolumeFiles
    d = tmp_path / "mine"; d.mkdir()
    x = np.random.default_rng(0).normal(size=(4, 6, 6, 6)).astype(np.float32)
    for i, name in enumerate(["a_0", "a_1", "b_0", "b_1"]):
        write_mrc(d / f"{name}.mrc", x[i], voxel_size=4.0)
    ds = VolumeDataset.from_folder(d)
    assert isinstance(ds.volumes, VolumeFiles) and ds.shape == (6, 6, 6) and ds.labels.tolist() == [0, 0, 1, 1]
    torch.testing.assert_close(ds[2]["x"][0], standardize(torch.from_numpy(x[2])), atol=1e-5, rtol=0)
    assert [c["name"] for c in dataset_info(d)["classes"]] == ["a", "b"]
    assert VolumeDataset.from_folder(d, labels="none").labels.tolist() == [-1] * 4
    fp = data_fingerprint(ds)
    assert fp["kind"] == "volume files" and fp["count"] == 4
    import pickle
    assert len(pickle.dumps(ds)) < 20_000 and isinstance(pickle.loads(pickle.dumps(ds)).volumes, VolumeFiles)  # workers get the file list, not the data
    loader = make_loader(ds, 2, num_workers=1)
    assert sorted(sum((b["index"].tolist() for b in loader), [])) == [0, 1, 2, 3]


def _rss_file_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"): return int(line.split()[1]) / 1024
    return float("nan")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_reading_a_dataset_keeps_no_pages_resident(tmp_path):
    "A pass over a memory-mapped set (particles, then the fingerprint scan) leaves no file pages in the process's RSS."
    from cryo_disent.data.datasets import VolumeDataset, data_fingerprint, save_dataset
    v = np.random.default_rng(0).standard_normal((256, 32, 32, 32)).astype(np.float32)  # 32 MB
    save_dataset(tmp_path / "d", v)
    del v
    ds = VolumeDataset.from_folder(tmp_path / "d")
    before = _rss_file_mb()
    for i in range(len(ds)): ds[i]
    data_fingerprint(ds)
    grown = _rss_file_mb() - before
    assert grown < 8, f"file-backed RSS grew by {grown:.0f} MB reading a 32 MB set (mapped pages kept resident)"
