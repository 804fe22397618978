"""The command line: every verb on a tiny tetromino dataset, and clear one-line errors on bad input."""
import json
import subprocess
import sys
from pathlib import Path
import numpy as np
import pytest

CLI = [sys.executable, "-m", "cryo_disent.cli"]


def run(*args, ok=True):
    r = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=600)
    if ok:
        assert r.returncode == 0, r.stderr[-2000:]
    return r


def test_help_lists_verbs_and_examples():
    out = run("--help").stdout
    for verb in ["simulate", "toyset", "train", "embed", "cluster", "report", "demo", "models"]:
        assert verb in out
    assert "examples:" in out
    assert "--set KEY=VALUE" in run("train", "--help").stdout


def test_train_embed_cluster_report(tmp_path):
    data, runp = tmp_path / "tet", tmp_path / "run"
    run("toyset", "tetrominoes", "--out", data, "--n-per-class", 6, "--size", 16)
    run("train", "--data", data, "--out", runp, "--epochs", 1, "--batch-size", 8, "--latent-dim", 3,
        "--set", "channels=[8,16]", "--quiet")
    assert (runp / "model.pt").exists() and (runp / "checkpoint.pt").exists()
    assert json.loads((runp / "config.json").read_text())["model_config"]["channels"] == [8, 16]
    run("embed", "--run", runp, "--data", data)
    assert len(np.load(runp / "embedding.npz")["content"]) == 54
    out = run("cluster", "--run", runp, "--data", data, "--k", 9).stdout
    assert "ari" in out and json.loads((runp / "metrics.json").read_text())["k"] == 9
    run("report", "--run", runp, "--data", data)
    assert (runp / "report.html").stat().st_size > 100_000


@pytest.mark.parametrize("args, needle", [
    (["train", "--data", "/no/such/folder", "--out", "{tmp}/r"], "/no/such/folder"),
    (["train", "--data", "{tmp}/tet", "--out", "{tmp}/r", "--model", "nope"], "unknown name 'nope'"),
    (["train", "--data", "{tmp}/tet", "--out", "{tmp}/r", "--set", "latnt_dim=3"], "unknown config keys"),
    (["toyset", "cubes", "--out", "{tmp}/x"], "toyset: unknown name 'cubes'"),
    (["simulate", "--preset", "seed004", "--snr", "0", "--out", "{tmp}/x"], "snr: expected > 0"),
    (["simulate", "--preset", "seed004", "--mwa", "90", "--out", "{tmp}/x"], "mwa: expected"),
    (["simulate", "--preset", "seed004", "--n-per-class", "-3", "--out", "{tmp}/x"], "n_per_class"),
    (["simulate", "--preset", "nope", "--out", "{tmp}/x"], "nope"),
    (["embed", "--run", "{tmp}/none", "--data", "{tmp}/tet"], "model.pt"),
])
def test_bad_input_is_one_clear_line(tmp_path, args, needle):
    run("toyset", "tetrominoes", "--out", tmp_path / "tet", "--n-per-class", 2, "--size", 16)
    r = run(*[a.format(tmp=tmp_path) for a in args], ok=False)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "r" / "config.json").exists()  # nothing half-written


def test_simulate_writes_dataset_with_ground_truth(tmp_path):
    out = tmp_path / "sim"
    run("simulate", "--preset", "seed004", "--snr", 0.05, "--mwa", 30, "--n-per-class", 3, "--box", 24, "--out", out, "--quiet")
    import starfile
    t = starfile.read(out / "particles.star")
    assert len(t) == 12 and {"class_name", "qw", "qx", "qy", "qz", "shift_x", "defocus_um", "snr"} <= set(t.columns)
    assert np.load(out / "references.npy").shape == (4, 24, 24, 24)
    assert np.load(out / "volumes.npy", mmap_mode="r").shape == (12, 24, 24, 24)


def test_demo_quick(tmp_path):
    """`make demo` path (quick size): simulate → train → embed → cluster → report, metrics and report written."""
    out = tmp_path / "demo"
    run("demo", "--quick", "--out", out)
    m = json.loads((out / "metrics.json").read_text())
    assert m["n"] == 48 and 0 <= m["accuracy"] <= 1 and set(m["template_auc_fsc"]) == {
        "6ZU5_80S_ribosome", "4V8R_TRiC_one", "2GTL_erythrocruorin_full", "4V1W_apoferritin"}
    assert json.loads((out / "data" / "dataset.json").read_text())["meta"]["contrast"] == -1
    assert (out / "report.html").exists()


def test_resume_with_other_config_is_refused_in_one_line(tmp_path):
    data, runp = tmp_path / "tet", tmp_path / "run"
    run("toyset", "tetrominoes", "--out", data, "--n-per-class", 2, "--size", 16)
    common = ["train", "--data", data, "--out", runp, "--epochs", 1, "--set", "channels=[8]", "--quiet"]
    run(*common, "--latent-dim", 3)
    r = run(*common, "--latent-dim", 4, ok=False)
    assert r.returncode == 2 and "cannot resume, the model config changed: latent_dim (3 → 4)" in r.stderr
    assert "Traceback" not in r.stderr
    r = run("train", "--data", data, "--out", tmp_path / "r2", "--set", "channels=8", ok=False)
    assert r.returncode == 2 and "channels: expected tuple" in r.stderr
