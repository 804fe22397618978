"""Named stages after training: `cryo-disent refine` classifies (or refines) a clustered run again without clustering it
again, refuses runs it cannot work on in one line, redoes nothing that is current, and says how far it is in a log."""
import contextlib
import io
import json
import shutil

import numpy as np
import pytest

from cryo_disent.app.cli import main as cli_main


def cli(*args):
    "The CLI in this process with stdout and stderr to strings (as in a log file): (exit status, stdout, stderr)."
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def ok(*args):
    code, out, err = cli(*args)
    assert code == 0, err
    return out, err


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    "A tiny 3D set; one run trained only, one embedded only, one clustered (latent clusters, poses refined once)."
    d = tmp_path_factory.mktemp("stages")
    ok("simulate", "--preset", "seed004", "--n-per-class", 5, "--box", 16, "--out", d / "data", "--quiet")
    ok("train", "--data", d / "data", "--out", d / "run", "--epochs", 1, "--model", "beta_vae", "--batch-size", 8,
       "--latent-dim", 2, "--set", "channels=[8]", "--quiet")
    shutil.copytree(d / "run", d / "trained")
    ok("embed", "--run", d / "run")
    shutil.copytree(d / "run", d / "embedded")
    out, err = ok("cluster", "--run", d / "run", "--k", 2, "--no-classify", "--refine", 1)
    (d / "cluster.log").write_text(err)  # what `cluster` wrote to stderr, as in a log file
    (d / "cluster.out").write_text(out)
    shutil.copy(d / "run" / "metrics.json", d / "cluster_metrics.json")
    return d


def mtimes(run):
    return {f: (run / f).stat().st_mtime_ns for f in ("embedding.npz", "metrics.json", "classes.npz")}


def test_refine_reads_the_clustering_and_redoes_only_what_changed(runs):
    run = runs / "run"
    lat = np.load(run / "embedding.npz")["latent_cluster"]
    before, metrics = mtimes(run), (run / "metrics.json").read_text()
    out, err = ok("refine", "--run", run, "--no-classify", "--refine", 1)  # the options `cluster` used: nothing to do
    assert mtimes(run) == before and (run / "metrics.json").read_text() == metrics
    assert "refine: up to date" in err and "average: up to date" in err and json.loads(out)["k"] == 2
    out, err = ok("refine", "--run", run, "--no-classify", "--refine", 0, "--n-rotations", 20)  # other options: done again, not clustered again
    m = json.loads((run / "metrics.json").read_text())
    assert "pose_refine_rounds" not in m and m["k"] == 2 and m["k_chosen_by"] == "given" and "up to date" not in err
    assert np.array_equal(np.load(run / "embedding.npz")["latent_cluster"], lat)
    before = mtimes(run)
    ok("refine", "--run", run, "--no-classify", "--refine", 0, "--n-rotations", 20, "--overwrite")  # --overwrite: redone though current
    assert all(mtimes(run)[f] != before[f] for f in before)
    ok("report", "--run", run)  # every output describes the same classes


def test_cluster_logs_one_line_a_refinement_pass(runs):
    passes = [l for l in (runs / "cluster.log").read_text().splitlines() if l.startswith("refine: pass")]
    assert [l.split(":")[1].strip() for l in passes] == ["pass 1/1 against the templates"]


@pytest.mark.parametrize("run, args, words", [
    ("trained", [], "embedding.npz: not found; embed the run's data first: cryo-disent embed --run"),
    ("embedded", [], "the latents are not clustered; cluster first: cryo-disent cluster --run"),
    ("run", ["--no-classify", "--k", 3], "--k: applies to the classification; with --no-classify the latent clusters are the classes"),
    ("run", ["--restarts", 0], "--k-max, --restarts: expected >= 1"),
    ("none", [], "not found; expected a run folder"),
])
def test_refine_refuses_in_one_line(runs, run, args, words):
    before = {p: p.stat().st_mtime_ns for p in (runs / run).glob("*")} if (runs / run).exists() else {}
    code, out, err = cli("refine", "--run", runs / run, *args)
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert {p: p.stat().st_mtime_ns for p in before} == before  # nothing written


def test_cluster_keeps_its_output_and_always_redoes(runs):
    "`cluster` is the three stages, each redone: the same command gives the same metrics and the same printed summary."
    run = runs / "run"
    ok("refine", "--run", run, "--no-classify", "--refine", 0, "--n-rotations", 20)  # other classes than `cluster` made
    before = mtimes(run)
    out, err = ok("cluster", "--run", run, "--k", 2, "--no-classify", "--refine", 1)  # as in the fixture
    assert out == (runs / "cluster.out").read_text() and (run / "metrics.json").read_text() == (runs / "cluster_metrics.json").read_text()
    assert all(mtimes(run)[f] != before[f] for f in before) and "up to date" not in err
    summary = json.loads(out)
    assert list(summary) == ["n", "k", "k_chosen_by", "ground_truth", "ari", "accuracy", "f1_macro", "sap", "template_auc_fsc_mean",
                             "average_auc_fsc_mean", "pose_error_classwise_median_deg", "shift_error_median_vox"]
    m = json.loads((run / "metrics.json").read_text())
    assert m["k"] == 2 and m["pose_refine_rounds"] == 1 and m["n"] == 20 and "latent_ari" not in m


def test_classification_from_the_stage_prints_one_line_an_iteration(runs, tmp_path):
    "The classification path of `refine_stage` (short schedule), as `refine` runs it, logs each EM iteration."
    from cryo_disent.app.scoring import average_stage
    from cryo_disent.app.stages import refine_stage
    run = tmp_path / "run"
    shutil.copytree(runs / "run", run)
    fast = dict(k_max=2, restarts=1, schedule=((0.2, 1), (0.3, 2)), n_rotations=100)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rec = refine_stage(run, fast, k=2)
        m = average_stage(run, n_rotations=20)
    lines = [l for l in err.getvalue().splitlines() if l.startswith("classify")]
    assert len(lines) == 3 and "iteration 3/3" in lines[-1], err.getvalue()
    assert rec["how"]["k_chosen_by"] == "given" and m["latent_n_clusters"] == 2 and "latent_ari" in m and "classify_band" in m
