"""Every tutorial runs end to end through papermill with its tiny default parameters (plus an out_dir in tmp)."""
import json
from pathlib import Path
import pytest
from cryo_disent.pipelines import run_notebook

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "tutorials").glob("*.ipynb"))


def test_tutorials_exist():
    assert TUTORIALS, "no tutorials found"


@pytest.mark.parametrize("nb", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_runs(nb, tmp_path):
    out_dir = tmp_path / "run"
    run_notebook(nb, tmp_path / nb.name, parameters=dict(out_dir=str(out_dir)), cwd=ROOT)
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert 0.0 <= metrics["accuracy"] <= 1.0 and -1.0 <= metrics["ari"] <= 1.0
    assert metrics["n"] > 0
    assert (out_dir / "report.html").stat().st_size > 100_000  # plotly.js inlined


def test_parameters_cell_is_tagged():
    """nbdev-clean must keep papermill's `parameters` tag (pyproject: allowed_cell_metadata_keys = ["tags"])."""
    for nb in TUTORIALS:
        cells = json.loads(nb.read_text())["cells"]
        assert any("parameters" in c.get("metadata", {}).get("tags", []) for c in cells), nb.name
