"""Every tutorial runs end to end through papermill with its tiny default parameters (plus an out_dir in tmp)."""
import json
import math
from pathlib import Path
import pandas as pd
import pytest
from cryo_disent.pipelines import run_notebook

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "tutorials").glob("*.ipynb"))
EXPERIMENTS = {"06_harmony3d_mcl", "04a_affinity_alphanumeric"}  # experiment notebooks: a table over methods × conditions, tested below, not a single run
SINGLE_RUNS = [nb for nb in TUTORIALS if nb.stem not in EXPERIMENTS]


def test_tutorials_exist():
    assert SINGLE_RUNS, "no tutorials found"
    assert EXPERIMENTS <= {nb.stem for nb in TUTORIALS}, "an experiment notebook named in EXPERIMENTS is missing"


@pytest.mark.parametrize("nb", SINGLE_RUNS, ids=lambda p: p.stem)
def test_tutorial_runs(nb, tmp_path):
    out_dir = tmp_path / "run"
    run_notebook(nb, tmp_path / nb.name, parameters=dict(out_dir=str(out_dir)), cwd=ROOT)
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert 0.0 <= metrics["accuracy"] <= 1.0 and -1.0 <= metrics["ari"] <= 1.0
    assert metrics["n"] > 0
    assert (out_dir / "report.html").stat().st_size > 100_000  # plotly.js inlined


def _outputs(nb_path) -> list:
    "Every output of every code cell of an executed notebook."
    cells = json.loads(Path(nb_path).read_text())["cells"]
    return [o for c in cells if c["cell_type"] == "code" for o in c.get("outputs", [])]


def test_harmony_experiment_table(tmp_path):
    """The Harmony3D/MCL experiment on a 2 × 1 grid at tiny size: one row per method × condition, scores in range,
    K by BIC, the CSV and HTML written, the figures drawn, no error in the executed notebook."""
    out_dir = tmp_path / "run"
    methods = ["beta_vae", "harmony3d", "harmony3d_mcl"]
    executed = run_notebook(ROOT / "tutorials" / "06_harmony3d_mcl.ipynb", tmp_path / "06.ipynb", cwd=ROOT,
                            parameters=dict(out_dir=str(out_dir), snrs=[0.1, 0.01], mwas=[30.0], methods=methods))
    outputs = _outputs(executed)
    assert not [o for o in outputs if o["output_type"] == "error"]
    table = pd.read_csv(out_dir / "table1.csv")
    assert len(table) == 6
    assert sorted(zip(table["method"], table["snr"], table["mwa"])) == sorted((m, s, 30.0) for m in methods for s in (0.1, 0.01))
    assert table["ari"].between(-1, 1).all() and table["accuracy"].between(0, 1).all()  # NaN fails `between`: finite too
    assert (table["k_chosen_by"] == "bic").all() and table["k"].between(2, 10).all()
    harmony = table[table["method"] != "beta_vae"]
    assert harmony["sap"].notna().all() and harmony["pose_error_median_deg"].between(0, 180).all()
    assert harmony["shift_error_median_vox"].ge(0).all() and harmony["average_auc_fsc_mean"].notna().all()
    assert table["pose_error_median_deg"][table["method"] == "beta_vae"].isna().all()  # no pose, no pose error
    fsc = table.filter(like="template_auc_fsc[").to_numpy()
    assert fsc.shape[1] == 4 and (fsc[~pd.isna(fsc)].astype(float) <= 1).all()  # one column per seed004 class
    for m, s in zip(table["method"], table["snr"]):  # every run's own files agree with its row
        met = json.loads((out_dir / "runs" / f"snr{s:g}_mwa30" / m / "metrics.json").read_text())
        assert math.isclose(met["ari"], table.set_index(["method", "snr"]).loc[(m, s), "ari"], abs_tol=1e-12)
    assert (out_dir / "table1.html").stat().st_size > 100_000  # plotly.js inlined
    plots = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(plots) >= 4  # table, heatmap, templates/averages/truth, traversal (+ isosurfaces when drawable)


def test_affinity_alphanumeric(tmp_path):
    """Affinity-VAE on rotated characters at tiny size: the latent map's scores in range, the unseen `v` placed on seen
    classes only (fractions summing to 1), the affinity matrix written, the figures drawn, no error."""
    out_dir = tmp_path / "run"
    executed = run_notebook(ROOT / "tutorials" / "04a_affinity_alphanumeric.ipynb", tmp_path / "04a.ipynb", cwd=ROOT,
                            parameters=dict(out_dir=str(out_dir), n_per_class=10, epochs=1))
    outputs = _outputs(executed)
    assert not [o for o in outputs if o["output_type"] == "error"]
    m = json.loads((out_dir / "metrics.json").read_text())
    assert m["n"] == 10 + 2 * 9 and 0 <= m["accuracy"] <= 1 and -1 <= m["ari"] <= 1  # 10 v + 20 % of each seen class
    assert 0 <= m["pose_abs_r"] <= 1 and -1 <= m["affinity_correlation"] <= 1
    assert set(m["unseen_landing"]) == {"v"} and "v" not in m["unseen_landing"]["v"]
    assert math.isclose(sum(m["unseen_landing"]["v"].values()), 1.0)
    assert set(m["f1"]) == set("aebdijz2u")
    assert pd.read_csv(out_dir / "affinity.csv", index_col=0).shape == (9, 9)
    assert (out_dir / "report.html").stat().st_size > 100_000
    plots = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(plots) >= 6  # affinity, training, map, confusion, latents vs affinity, pose, traversal


def test_parameters_cell_is_tagged():
    """nbdev-clean must keep papermill's `parameters` tag (pyproject: allowed_cell_metadata_keys = ["tags"])."""
    for nb in TUTORIALS:
        cells = json.loads(nb.read_text())["cells"]
        assert any("parameters" in c.get("metadata", {}).get("tags", []) for c in cells), nb.name
