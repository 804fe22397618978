"""Nothing a user owns is lost: `--overwrite` replaces only this library's own outputs, and a run's results survive a
`train` that writes no new model."""
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "cryo_disent.app.cli"]

pytestmark = pytest.mark.slow  # CLI end-to-end runs in subprocesses and a 200-pair process race (`make test-fast` skips)


def run(*args, ok=True):
    r = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=600)
    if ok: assert r.returncode == 0, r.stderr[-2000:]
    return r


def snapshot(folder: Path) -> dict:
    "Every file under `folder` with the hash of its bytes."
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(r, words: str):
    lines = [l for l in r.stderr.strip().splitlines() if l.strip()]
    assert r.returncode != 0 and len(lines) == 1 and words in lines[0] and "Traceback" not in r.stderr, r.stderr[-2000:]


def test_overwrite_never_replaces_a_folder_the_library_did_not_write(tmp_path):
    user = tmp_path / "my_project"
    (user / "Subtomograms").mkdir(parents=True)
    (user / "Subtomograms" / "p1.mrc").write_bytes(b"a subtomogram")
    (user / "notes.txt").write_text("mine")
    before = snapshot(user)
    r = run("toyset", "tetrominoes", "--out", user, "--n-per-class", 2, "--size", 16, "--overwrite", ok=False)
    refused(r, "never replaced, even with overwrite")
    r = run("simulate", "--preset", "seed004", "--n-per-class", 2, "--box", 16, "--out", user, "--overwrite", ok=False)
    refused(r, "never replaced, even with overwrite")
    assert snapshot(user) == before
    data = tmp_path / "tet"  # a dataset folder of ours is replaced with --overwrite
    run("toyset", "tetrominoes", "--out", data, "--n-per-class", 2, "--size", 16)
    n2 = json.loads((data / "dataset.json").read_text())["count"]
    run("toyset", "tetrominoes", "--out", data, "--n-per-class", 4, "--size", 16, "--overwrite")
    assert json.loads((data / "dataset.json").read_text())["count"] == 2 * n2


def test_a_trained_run_folder_is_not_a_dataset_to_overwrite(tmp_path):
    data, runp = tmp_path / "tet", tmp_path / "run"
    run("toyset", "tetrominoes", "--out", data, "--n-per-class", 2, "--size", 16)
    run("train", "--model", "beta_vae", "--data", data, "--out", runp, "--epochs", 1, "--batch-size", 8, "--latent-dim", 2,
        "--set", "channels=[8]", "--quiet")
    before = snapshot(runp)
    r = run("toyset", "tetrominoes", "--out", runp, "--n-per-class", 2, "--size", 16, "--overwrite", ok=False)
    refused(r, "never replaced, even with overwrite")
    assert snapshot(runp) == before


def test_results_survive_a_train_that_writes_no_new_model(tmp_path):
    data, runp = tmp_path / "tet", tmp_path / "run"
    run("toyset", "tetrominoes", "--out", data, "--n-per-class", 2, "--size", 16)
    train = lambda epochs, bs=8, *extra, ok=True: run("train", "--model", "beta_vae", "--data", data, "--out", runp, "--epochs", epochs,
                                                     "--batch-size", bs, "--latent-dim", 2, "--set", "channels=[8]", "--quiet", *extra, ok=ok)
    train(2)
    run("embed", "--run", runp)
    emb, model = (runp / "embedding.npz").read_bytes(), (runp / "model.pt").read_bytes()
    train(2)                                                      # nothing to do: the model and its results stay
    assert train(3, 4, ok=False).returncode != 0                  # refused: another batch size
    assert train(1, ok=False).returncode != 0                     # refused: fewer epochs than trained
    assert train(3, 8, "--num-workers", "-1", ok=False).returncode != 0  # bad input
    assert (runp / "embedding.npz").read_bytes() == emb and (runp / "model.pt").read_bytes() == model
    train(3)                                                      # a new model: its old results go with the old model
    assert not (runp / "embedding.npz").exists() and (runp / "model.pt").exists()


def _contender(folder, barrier, out):
    import time
    from cryo_disent.core import InputError
    from cryo_disent.training.checkpoints import run_lock
    barrier.wait()
    try:
        with run_lock(folder):
            t0 = time.perf_counter()
            time.sleep(0.005)
            out.put((t0, time.perf_counter()))
    except InputError:
        out.put(None)


def test_two_runs_started_together_never_both_hold_the_lock(tmp_path):
    "200 pairs of processes released together on one run folder: the lock's holders never overlap, and one always wins."
    import multiprocessing as mp
    import cryo_disent.training.checkpoints  # noqa: F401  (imported once here: the forked contenders start at once)
    ctx = mp.get_context("fork")
    both, none = 0, 0
    for i in range(200):
        d = tmp_path / f"run{i % 4}"
        d.mkdir(exist_ok=True)
        barrier, out = ctx.Barrier(2), ctx.Queue()
        ps = [ctx.Process(target=_contender, args=(d, barrier, out)) for _ in range(2)]
        for p in ps: p.start()
        got = [out.get(timeout=60) for _ in ps]
        for p in ps: p.join()
        held = sorted(g for g in got if g is not None)
        none += not held
        both += len(held) == 2 and held[1][0] < held[0][1]  # the second entered before the first left
        assert not (d / ".lock").exists()
    assert both == 0 and none == 0


def test_export_star_replaces_nothing_unasked_and_writes_nothing_on_refusal(tmp_path):
    data, runp, dest = tmp_path / "tet", tmp_path / "run", tmp_path / "relion"
    run("toyset", "tetrominoes", "--out", data, "--n-per-class", 2, "--size", 16)
    run("train", "--model", "beta_vae", "--data", data, "--out", runp, "--epochs", 1, "--batch-size", 8, "--latent-dim", 2,
        "--set", "channels=[8]", "--quiet")
    run("embed", "--run", runp)
    run("cluster", "--run", runp, "--k", 2, "--no-classify")
    export = lambda *extra, ok=True: subprocess.run([*CLI, "export-star", "--run", str(runp), "--voxel-size", "5", "--write-stack", *map(str, extra)],
                                                   capture_output=True, text=True, timeout=600, cwd=tmp_path) if not ok else run(
        "export-star", "--run", runp, "--voxel-size", 5, "--write-stack", *extra)
    dest.mkdir()
    export("--out", dest / "x.star")
    before = snapshot(dest)
    refused(export("--out", dest / "x.star", ok=False), "exists; pass --overwrite")
    assert snapshot(dest) == before
    refused(export("--out", dest, ok=False), "is a folder")
    assert not (tmp_path / "particles.mrcs").exists() and snapshot(dest) == before  # nothing stray, nothing replaced
    r = subprocess.run([*CLI, "export-star", "--run", str(runp), "--voxel-size", "0", "--out", str(dest / "y.star")],
                       capture_output=True, text=True, timeout=600)
    refused(r, "voxel_size: got 0.0")
    export("--out", dest / "x.star", "--overwrite")
    assert (dest / "x.star").exists() and (dest / "particles.mrcs").exists()


def test_bad_inputs_get_one_line_and_leave_nothing_behind(tmp_path):
    "Each bad input: exit ≠ 0, one line naming what was wrong, no traceback, no new or changed file."
    import numpy as np
    data, runp = tmp_path / "tet", tmp_path / "run"
    run("toyset", "tetrominoes", "--out", data, "--n-per-class", 2, "--size", 16)
    run("train", "--model", "beta_vae", "--data", data, "--out", runp, "--epochs", 1, "--batch-size", 8, "--latent-dim", 2,
        "--set", "channels=[8]", "--quiet")
    train = ["train", "--model", "beta_vae", "--data", data, "--epochs", 1, "--quiet"]
    for args, words in [([*train, "--out", tmp_path / "new1", "--num-workers", -1], "num_workers: expected >= 0"),
                        ([*train, "--out", tmp_path / "new2", "--set", "channels=[0]"], "channels: expected positive ints")]:
        refused(run(*args, ok=False), words)
        assert not args[args.index("--out") + 1].exists()  # no empty run folder left behind
    bad = {"garbage": b"not a zip", "truncated": None, "pickled": None}
    run("embed", "--run", runp)
    good = (runp / "embedding.npz").read_bytes()
    bad["truncated"] = good[:300]
    np.savez(tmp_path / "obj.npz", content=np.array([object()], dtype=object))
    bad["pickled"] = (tmp_path / "obj.npz").read_bytes()
    for name, content in bad.items():
        (runp / "embedding.npz").write_bytes(content)
        before = snapshot(runp)
        for verb in (["cluster", "--run", runp], ["export-star", "--run", runp, "--voxel-size", 5]):
            r = run(*verb, ok=False)
            refused(r, "embedding.npz: ")
            assert "allow_pickle" not in r.stderr, name
            assert snapshot(runp) == before, (name, verb[0])


def test_same_command_same_weights_and_a_pinnable_memory_format(tmp_path):
    "`auto` is measured once per machine and reused, so a second run cannot choose otherwise under another load."
    import os
    import torch
    data = tmp_path / "tet"
    run("toyset", "tetrominoes", "--out", data, "--n-per-class", 2, "--size", 16)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    def train(out, *extra):
        r = subprocess.run([*CLI, "train", "--model", "beta_vae", "--data", str(data), "--out", str(out), "--epochs", "2",
                            "--batch-size", "8", "--latent-dim", "2", "--set", "channels=[8]", "--quiet", *extra],
                           capture_output=True, text=True, timeout=600, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
        return torch.load(out / "model.pt", weights_only=True)
    a = train(tmp_path / "a")
    cache = json.loads((tmp_path / "cache" / "cryo_disent" / "memory_format.json").read_text())
    assert len(cache) == 1 and set(cache.values()) <= {"contiguous", "channels_last"}
    key = next(iter(cache))
    (tmp_path / "cache" / "cryo_disent" / "memory_format.json").write_text(json.dumps({key: "channels_last"}))
    b = train(tmp_path / "b")  # the cached choice is used, whatever a timing would say now
    ck = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)
    assert ck["memory_format"] == "channels_last"
    c = train(tmp_path / "c", "--set", "memory_format=contiguous")  # pinned
    assert torch.load(tmp_path / "c" / "checkpoint.pt", weights_only=False)["memory_format"] == "contiguous"
    d = train(tmp_path / "d", "--memory-format", "channels_last")
    for k, v in b["state_dict"].items():  # one layout, one computation: the same weights
        assert torch.equal(v, d["state_dict"][k]), k


def test_outputs_of_another_model_or_clustering_are_refused(tmp_path):
    "A model replaced after `embed` (a concurrent `train`), or files of two clusterings side by side (a killed `cluster`)."
    import shutil
    data, runp, other = tmp_path / "tet", tmp_path / "run", tmp_path / "other"
    run("toyset", "tetrominoes", "--out", data, "--n-per-class", 2, "--size", 16)
    for out, seed in ((runp, 0), (other, 1)):
        run("train", "--model", "beta_vae", "--data", data, "--out", out, "--epochs", 1, "--batch-size", 8, "--latent-dim", 2,
            "--set", "channels=[8]", "--quiet", "--seed", seed)
    run("embed", "--run", runp)
    run("cluster", "--run", runp, "--k", 4, "--no-classify")
    k4 = {f: (runp / f).read_bytes() for f in ("metrics.json", "classes.npz")}
    run("cluster", "--run", runp, "--k", 2, "--no-classify")
    for f, b in k4.items(): (runp / f).write_bytes(b)  # embedding at K = 2, metrics and classes at K = 4
    refused(run("report", "--run", runp, ok=False), "describes another clustering")
    refused(run("export-star", "--run", runp, "--voxel-size", 5, ok=False), "describes another clustering")
    shutil.copy(other / "model.pt", runp / "model.pt")  # another model.pt beside this embedding
    before = snapshot(runp)
    for verb in (["cluster", "--run", runp, "--k", 2], ["report", "--run", runp], ["export-star", "--run", runp, "--voxel-size", 5]):
        refused(run(*verb, ok=False), "made by another model")
    assert snapshot(runp) == before
