"""The command line: every verb on a tiny tetromino dataset, and clear one-line errors on bad input."""
import json
import subprocess
import sys
import numpy as np
import pytest

CLI = [sys.executable, "-m", "cryo_disent.app.cli"]


def run(*args, ok=True):
    r = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=600)
    if ok:
        assert r.returncode == 0, r.stderr[-2000:]
    return r


@pytest.mark.slow
def test_help_lists_verbs_and_examples():
    out = run("--help").stdout
    for verb in ["simulate", "toyset", "train", "embed", "cluster", "report", "demo", "models"]:
        assert verb in out
    assert "examples:" in out
    assert "--set KEY=VALUE" in run("train", "--help").stdout


@pytest.mark.slow
def test_train_embed_cluster_report(tmp_path):
    data, runp = tmp_path / "tet", tmp_path / "run"
    run("toyset", "tetrominoes", "--out", data, "--n-per-class", 6, "--size", 16)
    run("train", "--model", "beta_vae", "--data", data, "--out", runp, "--epochs", 1, "--batch-size", 8, "--latent-dim", 3,
        "--set", "channels=[8,16]", "--quiet")
    assert (runp / "model.pt").exists() and (runp / "checkpoint.pt").exists()
    assert json.loads((runp / "config.json").read_text())["model_config"]["channels"] == [8, 16]
    run("embed", "--run", runp, "--data", data)
    assert len(np.load(runp / "embedding.npz")["content"]) == 54
    out = run("cluster", "--run", runp, "--data", data, "--k", 9, "--restarts", 1).stdout
    m = json.loads((runp / "metrics.json").read_text())
    assert "ari" in out and m["k_chosen_by"] == "given" and m["classify_k_max"] == 9 and 1 <= m["k"] <= 9  # classes may empty
    run("cluster", "--run", runp, "--data", data, "--k", 9, "--no-classify")
    assert json.loads((runp / "metrics.json").read_text())["k"] == 9
    run("report", "--run", runp, "--data", data)
    assert (runp / "report.html").stat().st_size > 100_000


@pytest.mark.parametrize("args, needle", [
    (["train", "--model", "beta_vae", "--data", "/no/such/folder", "--out", "{tmp}/r"], "/no/such/folder"),
    (["train", "--data", "{tmp}/tet", "--out", "{tmp}/r", "--model", "nope"], "unknown name 'nope'"),
    (["train", "--model", "beta_vae", "--data", "{tmp}/tet", "--out", "{tmp}/r", "--set", "latnt_dim=3"], "unknown config keys"),
    (["toyset", "cubes", "--out", "{tmp}/x"], "toyset: unknown name 'cubes'"),
    (["simulate", "--preset", "seed004", "--snr", "0", "--out", "{tmp}/x"], "snr: expected > 0"),
    (["simulate", "--preset", "seed004", "--mwa", "90", "--out", "{tmp}/x"], "mwa: expected"),
    (["simulate", "--preset", "seed004", "--n-per-class", "-3", "--out", "{tmp}/x"], "n_per_class"),
    (["simulate", "--preset", "nope", "--out", "{tmp}/x"], "nope"),
    (["embed", "--run", "{tmp}/none", "--data", "{tmp}/tet"], "--run {tmp}/none: not found"),
    (["train", "--model", "beta_vae", "--data", "{tmp}/tet/volumes.npy", "--out", "{tmp}/r"], "volumes.npy: is a file; expected a folder"),
    (["train", "--model", "beta_vae", "--data", "{tmp}/tet", "--out", "{tmp}/tet/dataset.json"], "--out {tmp}/tet/dataset.json: is a file"),
    (["toyset", "tetrominoes", "--out", "{tmp}/tet/dataset.json"], "is a file; expected a folder"),
    (["toyset", "tetrominoes", "--out", "{tmp}/tet"], "already exists (pass --overwrite to replace it)"),
    (["simulate", "--preset", "seed004", "--box", "4", "--out", "{tmp}/x"], "--box: 4 voxels is too small"),
    (["simulate", "--preset", "seed004", "--out", ".", "--overwrite"], "dataset folder .: is the working folder"),
    (["train", "--model", "beta_vae", "--data", "{tmp}/tet", "--out", "{tmp}/r", "--labels", "prefix"], "applies to a folder of volume files"),
])
@pytest.mark.slow
def test_bad_input_is_one_clear_line(tmp_path, args, needle):
    run("toyset", "tetrominoes", "--out", tmp_path / "tet", "--n-per-class", 2, "--size", 16)
    r = run(*[a.format(tmp=tmp_path) for a in args], ok=False)
    assert r.returncode == 2, r.stderr
    assert needle.format(tmp=tmp_path) in r.stderr and "Traceback" not in r.stderr
    assert "overwrite=True" not in r.stderr and "max_shift" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists() and not (tmp_path / "r" / "config.json").exists()  # nothing half-written


@pytest.mark.slow
def test_simulate_writes_dataset_with_ground_truth(tmp_path):
    out = tmp_path / "sim"
    run("simulate", "--preset", "seed004", "--snr", 0.05, "--mwa", 30, "--n-per-class", 3, "--box", 24, "--out", out, "--quiet")
    import starfile
    t = starfile.read(out / "particles.star")
    assert len(t) == 12 and {"class_name", "qw", "qx", "qy", "qz", "shift_x", "defocus_um", "snr"} <= set(t.columns)
    assert np.load(out / "references.npy").shape == (4, 24, 24, 24)
    assert np.load(out / "volumes.npy", mmap_mode="r").shape == (12, 24, 24, 24)


@pytest.mark.slow
def test_demo_quick(tmp_path):
    """`make demo` path (quick size): simulate → train → embed → cluster → report, metrics and report written."""
    out = tmp_path / "demo"
    run("demo", "--quick", "--out", out)
    m = json.loads((out / "metrics.json").read_text())
    classes = {"6ZU5_80S_ribosome", "4V8R_TRiC_one", "2GTL_erythrocruorin_full", "4V1W_apoferritin"}
    assert m["n"] == 48 and m["k_chosen_by"] == "classification (separability)"  # K chosen by the classification, not from the labels
    # measured ARI 0.32 (with K = 2 chosen); random labels in 2 clusters on 4 × 12 particles: below 0.16 in 3000 draws
    # (Hungarian accuracy cannot tell: 0.5 is the most two clusters can score, and chance reaches 0.46)
    assert m["ari"] > 0.2, m["ari"]
    assert set(m["template_auc_fsc"]) <= classes and len(m["template_auc_fsc"]) == min(m["k"], 4)
    assert json.loads((out / "data" / "dataset.json").read_text())["meta"]["contrast"] == -1
    assert (out / "report.html").exists()


@pytest.mark.slow
def test_resume_with_other_config_is_refused_in_one_line(tmp_path):
    data, runp = tmp_path / "tet", tmp_path / "run"
    run("toyset", "tetrominoes", "--out", data, "--n-per-class", 2, "--size", 16)
    common = ["train", "--model", "beta_vae", "--data", data, "--out", runp, "--epochs", 1, "--set", "channels=[8]", "--quiet"]
    run(*common, "--latent-dim", 3)
    r = run(*common, "--latent-dim", 4, ok=False)
    assert r.returncode == 2 and "cannot resume, the model config changed: latent_dim (3 → 4)" in r.stderr
    assert "Traceback" not in r.stderr
    r = run("train", "--model", "beta_vae", "--data", data, "--out", tmp_path / "r2", "--set", "channels=8", ok=False)
    assert r.returncode == 2 and "channels: expected tuple" in r.stderr


OUT = {}


def main(*args):
    "The CLI in this process (no interpreter start-up): (exit status, stderr); stdout goes to OUT['stdout']."
    import contextlib, io
    from cryo_disent.app.cli import main as cli_main
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = cli_main([str(a) for a in args])
    OUT["stdout"] = out.getvalue()
    return code, err.getvalue()


def ok(*args):
    code, err = main(*args)
    assert code == 0, err
    return OUT["stdout"]


def _mrc_folder(d, names, seed=0):
    from cryo_disent.data.io import write_mrc
    from cryo_disent.data.toysets import tetrominoes
    vols, _ = tetrominoes(n_per_class=len(names), size=16, classes=["I"], seed=seed, held_out=())
    d.mkdir()
    for v, n in zip(vols, names):
        write_mrc(d / f"{n}.mrc", v, voxel_size=10.0)
    return d


@pytest.mark.slow
def test_train_embed_cluster_report_on_a_folder_of_mrc_files(tmp_path):
    """`train --data <folder of .mrc>` trains on the files (not "missing volumes.npy"); unlabelled is a valid state."""
    data, runp = _mrc_folder(tmp_path / "mine", [f"particle{i:02d}" for i in range(10)]), tmp_path / "run"
    ok("train", "--model", "beta_vae", "--data", data, "--out", runp, "--epochs", 1, "--batch-size", 4, "--latent-dim", 2, "--set", "channels=[8]", "--quiet")
    rec = json.loads((runp / "config.json").read_text())["run"]
    assert rec["labels"] == "auto" and rec["data_fingerprint"]["kind"] == "volume files"
    ok("embed", "--run", runp)  # --data defaults to the run's
    assert np.load(runp / "embedding.npz")["label"].tolist() == [-1] * 10
    out = ok("cluster", "--run", runp, "--k-range", 1, 3, "--no-classify")  # unlabelled data need no --k: K by ICL
    m = json.loads((runp / "metrics.json").read_text())
    assert m["k_chosen_by"] == "icl" and sorted(m["icl_curve"]) == sorted(m["bic_curve"]) == ["1", "2", "3"] and '"k_chosen_by": "icl"' in out
    ok("cluster", "--run", runp, "--k-range", 1, 3, "--k-criterion", "bic", "--no-classify")
    assert json.loads((runp / "metrics.json").read_text())["k_chosen_by"] == "bic"
    out = ok("cluster", "--run", runp, "--k", 2)
    m = json.loads((runp / "metrics.json").read_text())
    assert "ari" not in m and "no ARI" in m["ground_truth"] and "no ARI" in out
    ok("report", "--run", runp, "--data", data)
    assert "no ground truth" in (runp / "report.html").read_text()


@pytest.mark.slow
def test_class_prefixes_and_labels_tables_from_the_cli(tmp_path):
    data = _mrc_folder(tmp_path / "mine", [f"{c}_{i}" for c in "ab" for i in range(4)])
    common = ["--epochs", 1, "--batch-size", 4, "--latent-dim", 2, "--set", "channels=[8]", "--quiet"]
    ok("train", "--model", "beta_vae", "--data", data, "--out", tmp_path / "r1", *common)  # auto: every file has a prefix, two classes
    ok("embed", "--run", tmp_path / "r1")
    assert np.load(tmp_path / "r1" / "embedding.npz")["label"].tolist() == [0] * 4 + [1] * 4
    assert "ari" in json.loads(ok("cluster", "--run", tmp_path / "r1"))
    (tmp_path / "lab.csv").write_text("filename,class_name\na_0.mrc,x\nb_0.mrc,y\n")
    ok("train", "--model", "beta_vae", "--data", data, "--out", tmp_path / "r2", "--labels", tmp_path / "lab.csv", *common)
    ok("embed", "--run", tmp_path / "r2")  # the run's labels table is reused
    assert np.load(tmp_path / "r2" / "embedding.npz")["label"].tolist() == [0, -1, -1, -1, 1, -1, -1, -1]
    (data / "odd.mrc").write_bytes((data / "a_0.mrc").read_bytes()[:-5])
    code, err = main("train", "--model", "beta_vae", "--data", data, "--out", tmp_path / "r3", "--labels", "none", *common)
    assert code == 2 and "odd.mrc: file is" in err and not (tmp_path / "r3").exists()


def test_non_finite_voxels_stop_the_run_before_anything_is_written(tmp_path):
    """NaN/Inf voxels are refused before training starts, naming the file, and nothing (no config.json) is left behind."""
    data = tmp_path / "tet"
    ok("toyset", "tetrominoes", "--out", data, "--n-per-class", 2, "--size", 16)
    v = np.load(data / "volumes.npy", mmap_mode="r+"); v[13, 2, 3, 4] = np.nan; v.flush(); del v
    code, err = main("train", "--model", "beta_vae", "--data", data, "--out", tmp_path / "r", "--epochs", 1, "--set", "channels=[8]", "--quiet")
    assert code == 2 and "volumes.npy: particle 13 has 1 NaN or Inf values" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_the_run_knows_its_data(tmp_path):
    """report/resume with other data of the same shape is refused (not a silent exit 0 with a wrong report)."""
    a, b, runp = tmp_path / "a", tmp_path / "b", tmp_path / "run"
    ok("toyset", "tetrominoes", "--out", a, "--n-per-class", 2, "--size", 16, "--seed", 0)
    ok("toyset", "tetrominoes", "--out", b, "--n-per-class", 2, "--size", 16, "--seed", 1)  # same shape, other particles
    common = ["--out", runp, "--set", "channels=[8]", "--latent-dim", 2, "--batch-size", 6, "--quiet"]
    assert main("train", "--model", "beta_vae", "--data", a, "--epochs", 1, *common)[0] == 0
    assert main("embed", "--run", runp, "--data", a)[0] == 0
    assert main("cluster", "--run", runp, "--data", a)[0] == 0
    assert main("report", "--run", runp, "--data", a)[0] == 0
    for verb in ("embed", "cluster", "report"):
        code, err = main(verb, "--run", runp, "--data", b)
        assert code == 2 and f"is not the data the run in {runp} was trained on" in err and "pass that data folder" in err
    code, err = main("train", "--model", "beta_vae", "--data", b, "--epochs", 2, *common)
    assert code == 2 and "cannot resume; train with --no-resume or into another --out" in err
    assert (runp / "report.html").exists()  # a refused command changes nothing
    assert main("train", "--model", "beta_vae", "--data", a, "--epochs", 2, *common)[0] == 0  # the model changes: its old results go
    assert not any((runp / f).exists() for f in ("embedding.npz", "metrics.json", "report.html"))
    assert main("train", "--model", "beta_vae", "--data", b, "--epochs", 1, "--no-resume", *common)[0] == 0  # a restart on other data is allowed
    assert json.loads((runp / "config.json").read_text())["run"]["data"] == str(b)


def test_interrupt_message_names_what_was_interrupted(tmp_path, monkeypatch):
    import cryo_disent.physics.simulate as sim
    def interrupted(*a, **k): raise KeyboardInterrupt
    monkeypatch.setattr(sim, "simulate_dataset", interrupted)
    code, err = main("simulate", "--preset", "seed004", "--n-per-class", 1, "--out", tmp_path / "x")
    assert code == 130 and "nothing was written" in err and "training" not in err


def test_help_examples_parse():
    from cryo_disent.app.cli import EXAMPLES, build_parser
    lines = EXAMPLES.splitlines()[1:]
    assert any("--labels" in l for l in lines)
    for line in lines:
        assert callable(build_parser().parse_args(line.split("#")[0].split()[1:]).func), line


@pytest.mark.slow
def test_second_live_training_into_the_same_out_is_refused(tmp_path):
    "Two trainings into one --out used to both print 'trained' and mix their logs; the second is now refused, the first unharmed."
    import time
    data, runp = tmp_path / "tet", tmp_path / "run"
    run("toyset", "tetrominoes", "--out", data, "--n-per-class", 6, "--size", 16)
    first = subprocess.Popen([*CLI, "train", "--model", "beta_vae", "--data", str(data), "--out", str(runp), "--epochs", "200", "--batch-size", "8",
                              "--latent-dim", "3", "--set", "channels=[8,16]", "--quiet"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.time()
        while not (runp / "metrics.jsonl").exists() and time.time() - t0 < 120:
            time.sleep(0.2)
        assert (runp / ".lock").exists(), "the first run holds the lock"
        r = run("train", "--model", "beta_vae", "--data", data, "--out", runp, "--epochs", 2, "--set", "beta=4", "--quiet", ok=False)
        assert r.returncode == 2 and f"another cryo-disent command (PID {first.pid})" in r.stderr, r.stderr
        assert json.loads((runp / "config.json").read_text())["model_config"]["beta"] == 1.0  # the first run's config
        from cryo_disent.core import InputError
        from cryo_disent.app.pipelines import report_run
        with pytest.raises(InputError, match=f"PID {first.pid}"): report_run(runp)  # every writer of a run takes its lock
    finally:
        first.kill()
        first.wait()
    # the killed run's stale lock is reclaimed: resume works
    assert (runp / ".lock").exists()
    run("train", "--model", "beta_vae", "--data", data, "--out", runp, "--epochs", 1, "--batch-size", 8, "--latent-dim", 3,
        "--set", "channels=[8,16]", "--quiet", "--no-resume")
    assert not (runp / ".lock").exists()
