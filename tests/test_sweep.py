"`cryo-disent sweep`: papermill over a grid, local process pool and the Slurm path through submitit's local executor."
import contextlib, io, json
from pathlib import Path
import nbformat
import pandas as pd
import pytest
from cryo_disent.app.cli import main
from cryo_disent.app.sweep import load_grid, run_sweep, slurm_parameters


def _tiny_notebook(path):
    "Parameters x, out_dir; writes metrics.json with score = x², fails for x == 3."
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell("x = 1\nout_dir = '.'\nscale = 1")
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, nbformat.v4.new_code_cell(
        "import json, pathlib\nif x == 3: raise ValueError(f'x = {x} is refused')\n"
        "pathlib.Path(out_dir, 'metrics.json').write_text(json.dumps({'score': scale * x * x}))")]
    nb.metadata["kernelspec"] = dict(name="python3", display_name="python3", language="python")
    nbformat.write(nb, path)


def _cli(argv) -> tuple:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err): code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.mark.slow
def test_sweep_cli_local_failing_run_and_rerun(tmp_path):
    _tiny_notebook(tmp_path / "tiny.ipynb")
    (tmp_path / "grid.yaml").write_text("notebook: tiny.ipynb\nout: sweep\nparameters: {scale: 2}\ngrid:\n  x: [3, 2]\nparallel: 2\n")
    code, out, err = _cli(["sweep", tmp_path / "grid.yaml"])
    assert code == 2 and "failed: x-3: ValueError: x = 3 is refused" in err and "1 of 2 runs failed" in err
    assert "1 of 2 runs done" in out
    assert [l for l in err.splitlines() if l.startswith("sweep 2/2 ")]  # no terminal: one line per finished run
    t = pd.read_csv(tmp_path / "sweep/summary.csv")
    assert t.set_index("x")["metric.score"].to_dict()[2] == 8 and t.status.tolist() == ["failed", "done"]
    run = tmp_path / "sweep/x-2"
    assert json.loads((run / "parameters.json").read_text()) == dict(scale=2, x=2, out_dir=str(run))
    assert (run / "notebook.ipynb").is_file() and json.loads((run / "status.json").read_text())["status"] == "done"
    assert (tmp_path / "sweep/summary.html").stat().st_size > 100_000
    before = (run / "status.json").stat().st_mtime_ns
    code, out, err = _cli(["sweep", tmp_path / "grid.yaml"])
    assert "1 finished before, 1 to run" in err and (run / "status.json").stat().st_mtime_ns == before


@pytest.mark.slow
def test_sweep_slurm_path_with_submitit_local(tmp_path):
    "The Slurm executor (job array, resources from the YAML) through submitit's local executor; the failure is recorded."
    _tiny_notebook(tmp_path / "tiny.ipynb")
    (tmp_path / "grid.yaml").write_text("notebook: tiny.ipynb\nout: sw\ngrid: {x: [2, 3]}\nexecutor: slurm\n"
                                        "slurm: {partition: gpu, gpus: 1, time: '00:10:00', array_parallelism: 2, cpus: 1}\n")
    spec = load_grid(tmp_path / "grid.yaml")
    assert slurm_parameters(spec.slurm) == dict(slurm_partition="gpu", gpus_per_node=1, timeout_min=10,
                                                slurm_array_parallelism=2, cpus_per_task=1)
    t = run_sweep(spec, cluster="local", progress=False, poll_s=0.2)
    assert t.status.tolist() == ["done", "failed"] and t["metric.score"].iloc[0] == 4
    assert "ValueError: x = 3 is refused" in t.error.iloc[1]
    assert list((tmp_path / "sw" / "submitit").iterdir())  # submitit's job folders and logs


def test_grid_errors(tmp_path):
    (tmp_path / "g.yaml").write_text("notebook: none.ipynb\nout: o\ngrid: {x: [1]}\n")
    with pytest.raises(ValueError, match="notebook .*none.ipynb not found"): load_grid(tmp_path / "g.yaml")
    (tmp_path / "g.yaml").write_text("notebook: g.yaml\nout: o\ngrid: {x: [1]}\nparameters: {x: 2}\n")
    with pytest.raises(ValueError, match=r"\['x'\] both in grid and parameters"): load_grid(tmp_path / "g.yaml")
