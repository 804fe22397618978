"""Fault injection: every stage killed (SIGKILL) part-way, and every writer made to fail mid-file (a file-size limit,
as a full disk does), leaves each file that existed before in place and either unchanged or complete; the next
command either works or refuses the mix in one line, and rerunning the killed command finishes the job."""
import hashlib
import json
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cryo_disent.app.runs import DERIVED

CLI = [sys.executable, "-m", "cryo_disent.app.cli"]
TRAIN = ["--model", "beta_vae", "--batch-size", 8, "--latent-dim", 2, "--set", "channels=[8]", "--quiet"]

pytestmark = pytest.mark.slow  # fault injection: every CLI stage killed or starved of disk (`make test-fast` skips)


def run(*args, ok=True, limit=None):
    "Run the CLI; `limit`: a file-size limit in bytes for the command (a write past it fails as on a full disk)."
    pre = (lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))) if limit else None
    r = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=600, preexec_fn=pre)
    if ok: assert r.returncode == 0, r.stderr[-2000:]
    return r


def killed(args, delay: float) -> int:
    "Start the CLI and SIGKILL it after `delay` seconds (if still running); its exit status."
    p = subprocess.Popen([*CLI, *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try: p.wait(timeout=delay)
    except subprocess.TimeoutExpired: p.send_signal(signal.SIGKILL)
    return p.wait()


def snapshot(*folders) -> dict:
    "Every visible file under `folders` with the hash of its bytes (hidden temp files of a killed writer are not results)."
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for f in folders for p in sorted(Path(f).rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(f).parts)}


def one_line(r, words: str = ""):
    lines = [l for l in r.stderr.strip().splitlines() if l.strip() and not l.startswith("classify")]
    assert r.returncode != 0 and len(lines) == 1 and words in lines[0] and "Traceback" not in r.stderr, r.stderr[-2000:]


def complete(path: Path):
    "A file a command wrote is whole: it parses as its kind."
    if path.suffix == ".npz": dict(np.load(path, allow_pickle=False))
    elif path.suffix == ".json": json.loads(path.read_text())
    elif path.suffix == ".jsonl": [json.loads(l) for l in path.read_text().splitlines()[:-1]]  # the last line may be cut
    elif path.suffix == ".html": assert path.read_text().rstrip().endswith("</html>"), path
    elif path.suffix == ".pt":
        import torch
        torch.load(path, weights_only=True)
    elif path.suffix == ".star":
        from cryo_disent.data.io import read_star
        read_star(path)
    elif path.suffix in (".npy", ".mrcs"): assert path.stat().st_size > 1024, path


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    "A small 3D set, a trained run with every output, an export; and how long each stage took to run."
    d = tmp_path_factory.mktemp("faults")
    data, runp, exp = d / "data", d / "run", d / "exp"
    stages = dict(simulate=["simulate", "--preset", "seed004", "--n-per-class", 6, "--box", 16, "--out", data, "--quiet"],
                  train=["train", "--data", data, "--out", runp, "--epochs", 2, *TRAIN],  # (ends: epochs, TRAIN)
                  embed=["embed", "--run", runp],
                  classify=["cluster", "--run", runp, "--k", 2, "--restarts", 1],
                  cluster=["cluster", "--run", runp, "--k", 2, "--no-classify"],
                  report=["report", "--run", runp],
                  export=["export-star", "--run", runp, "--out", exp / "x.star", "--write-stack", "--overwrite"])
    took = {}
    for name, args in stages.items():
        t0 = time.perf_counter()
        run(*args)
        took[name] = time.perf_counter() - t0
    return dict(dir=d, data=data, run=runp, exp=exp, stages=stages, took=took)


def downstream_ok_or_refused(p: dict):
    "After a kill: each later command works, or refuses the files it found in one line (never a silent mix)."
    for args in (["report", "--run", p["run"]], ["export-star", "--run", p["run"], "--out", p["exp"] / "x.star", "--overwrite"]):
        r = run(*args, ok=False)
        if r.returncode != 0: one_line(r)


STALE = ("train", "embed", "classify", "cluster")  # stages whose new output makes older derived files stale (removed)
KILLS = [("simulate", ["--overwrite"], ("data",)), ("train", ["--epochs", 3], ("run",)), ("embed", [], ("run",)),
         ("classify", [], ("run",)), ("cluster", [], ("run",)), ("report", [], ("run",)), ("export", [], ("exp",))]


@pytest.mark.parametrize("stage,extra,writes", KILLS, ids=[k[0] for k in KILLS])
def test_a_stage_killed_part_way_loses_nothing(project, stage, extra, writes):
    p = project
    args = p["stages"][stage][:-len(TRAIN) - 2] + TRAIN + extra if stage == "train" else p["stages"][stage] + extra
    folders = [p["data"], p["run"], p["exp"]]
    for fraction in (0.6,):
        before = snapshot(*folders)
        killed(args, fraction * p["took"][stage])
        after = snapshot(*folders)
        for f, h in before.items():  # every file is still there; one the stage writes is the old one or a complete new one
            if not any(Path(f).is_relative_to(p[w]) for w in writes): assert after.get(f) == h, (stage, fraction, f)
            elif f in after: complete(Path(f))
            else: assert stage in STALE and any(Path(f).match(d) for d in DERIVED), (stage, f)  # of an older model or embedding
        for f in set(after) - set(before): complete(Path(f))
        downstream_ok_or_refused(p)
    run(*args)  # finishing the killed command puts everything right
    if stage in ("train", "simulate"): run(*p["stages"]["embed"])
    if stage in ("train", "simulate", "embed"): run(*p["stages"]["cluster"])
    run(*p["stages"]["export"])


FULL = [("simulate", ["--overwrite"], "data"), ("train", ["--epochs", 4], "run"), ("embed", [], "run"),
        ("cluster", [], "run"), ("report", [], "run"), ("export", [], "exp")]


@pytest.mark.parametrize("stage,extra,writes", FULL, ids=[k[0] for k in FULL])
def test_a_write_that_fails_mid_file_changes_nothing(project, stage, extra, writes):
    """A file-size limit below what the stage writes: one line naming the file, exit ≠ 0, every file as it was (but the
    training log), and the same command then finishes."""
    p = project
    args = p["stages"][stage][:-len(TRAIN) - 2] + TRAIN + extra if stage == "train" else p["stages"][stage] + extra
    folders = [p["data"], p["run"], p["exp"]]
    before = snapshot(*folders)
    r = run(*args, ok=False, limit=1500 if stage in ("cluster", "embed") else 20000)
    one_line(r, "could not write it")
    after = snapshot(*folders)
    log = ("config.json", "metrics.jsonl") if stage == "train" else ()  # training's own record of the epochs it ran
    for f in log: complete(p["run"] / f)
    assert {f: h for f, h in after.items() if Path(f).name not in log} == {f: h for f, h in before.items() if Path(f).name not in log}
    assert set(after) == set(before)
    run(*args)  # with room to write, the same command finishes


def test_import_star_never_replaces_the_folder_that_holds_its_input(tmp_path):
    "Even a dataset folder of ours, with --overwrite, is not replaced while the STAR being read lies in it."
    from cryo_disent.data.datasets import save_dataset
    from cryo_disent.data.io import write_mrc
    from cryo_disent.data.relion import write_relion_star
    proj, ds = tmp_path / "proj", tmp_path / "ds"
    (proj / "Subtomograms").mkdir(parents=True)
    for i in range(4): write_mrc(proj / "Subtomograms" / f"p{i}.mrc", np.random.default_rng(i).normal(size=(8, 8, 8)), voxel_size=10.0)
    save_dataset(ds, np.zeros((2, 8, 8, 8), np.float32))
    write_relion_star(ds / "mine.star", [f"Subtomograms/p{i}.mrc" for i in range(4)], None, None, box=8, voxel_size=10.0)
    before = snapshot(ds, proj)
    one_line(run("import-star", ds / "mine.star", "--root", proj, "--out", ds, "--overwrite", ok=False), "an input being read")
    assert snapshot(ds, proj) == before
    run("import-star", ds / "mine.star", "--root", proj, "--out", tmp_path / "new")  # elsewhere it imports


def test_a_labels_table_names_only_this_folder_s_files_and_real_classes(tmp_path):
    from cryo_disent.data.io import write_mrc
    (tmp_path / "sub").mkdir()
    for i in range(4): write_mrc(tmp_path / "sub" / f"a_{i}.mrc", np.random.default_rng(i).normal(size=(8, 8, 8)), voxel_size=10.0)
    for rows, words in [("filename,class_name\n../other/a_0.mrc,x\n", "'../other/a_0.mrc' is not in"),
                        ("filename,class_name\na_0.mrc,\n", "class_name of 'a_0.mrc' is empty")]:
        (tmp_path / "lab.csv").write_text(rows)
        one_line(run("train", "--data", tmp_path / "sub", "--labels", tmp_path / "lab.csv", "--out", tmp_path / "r", "--epochs", 1,
                     *TRAIN, ok=False), words)
        assert not (tmp_path / "r").exists()
