"Failure modes and edge cases of `cryo_disent.viz.plots`, `figures` and `report` beyond the notebook examples (no browser needed)."
import os, re
from pathlib import Path
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import torch
from cryo_disent.viz import figures, report
from cryo_disent.viz import plots as viz
from cryo_disent.core import InputError, atomic_path


@pytest.fixture
def vol():
    return np.random.default_rng(0).normal(size=(6, 7, 8)).astype(np.float32)


def test_write_atomic_failure_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch, vol):
    "A write that fails after the temp file is written leaves the old report and no temp (patches only viz's writer)."
    out = tmp_path / "r.html"
    report.save_html(viz.slices_figure(vol), out)
    old = out.read_bytes()

    def failing_write(path, text):  # the real atomic writer, failing before the rename (e.g. disk full on fsync)
        with atomic_path(path) as tmp:
            Path(tmp).write_text(text)
            raise OSError("disk full")
    monkeypatch.setattr(report, "atomic_write_text", failing_write)
    with pytest.raises(OSError, match="disk full"):
        report.save_html(viz.projections_figure(vol), out)
    assert out.read_bytes() == old
    assert os.listdir(tmp_path) == ["r.html"]


def test_save_html_section_forms(tmp_path, vol):
    f1, f2 = viz.slices_figure(vol, "a"), figures.curve_figure({"y": [1, 2, 3]})
    df = pd.DataFrame(dict(k=[1, 2], v=[0.123456, 2.0]))
    p = report.save_html((f1, f2), tmp_path / "sub" / "x.html",
                      sections=[("Both", [f1, "<p id='raw'>raw</p>", df, None]), ("M", {"a": {"b": np.float32(0.5)}})])
    doc = p.read_text()
    assert doc.count("Plotly.newPlot(") == 3
    assert "<p id='raw'>raw</p>" in doc and "0.1235" in doc and "<td>a.b</td><td>0.5</td>" in doc
    assert re.findall(r"<script[^>]*\ssrc=", doc) == []
    assert oct(p.stat().st_mode & 0o777) == "0o644"
    with pytest.raises(InputError, match="figs/sections: expected at least one"):
        report.save_html([], tmp_path / "empty.html")
    assert not (tmp_path / "empty.html").exists()


def test_torch_inputs_match_numpy(vol):
    t = torch.from_numpy(vol).requires_grad_(True)[None]          # [1, D, H, W] with grad
    for f in (viz.slices_figure, viz.projections_figure, viz.slice_slider, viz.isosurface_figure):
        a, b = f(t), f(vol)
        assert len(a.data) == len(b.data) and len(a.frames) == len(b.frames)
        for ta, tb in zip(a.data, b.data):
            key = "value" if isinstance(ta, go.Isosurface) else "z"
            np.testing.assert_array_equal(ta[key], tb[key])


def test_volumes_grid_array_input_and_errors(vol):
    fig = viz.volumes_grid(np.stack([vol, vol + 1, vol + 2]))
    assert len(fig.data) == 9 and [a.text for a in fig.layout.annotations][::3] == ["#0: xy", "#1: xy", "#2: xy"]
    np.testing.assert_array_equal(fig.data[6].z, (vol + 2)[3])
    with pytest.raises(InputError, match=r"vols\[1\]: contains NaN"):
        viz.volumes_grid([vol, np.full_like(vol, np.nan)])
    with pytest.raises(InputError, match="vols: expected a list of volumes"):
        viz.volumes_grid(np.zeros((2, 3, 4)))


def test_embedding_class_names_dict_unknown_and_webgl():
    emb = np.random.default_rng(0).normal(size=(30001, 2))
    lab = np.r_[np.zeros(10001, int), np.ones(10000, int), -np.ones(10000, int)]
    fig = figures.embedding_figure(emb, lab, class_names={0: "a", 1: "b"})
    assert [t.name for t in fig.data] == ["unknown", "a", "b"]
    assert all(isinstance(t, go.Scattergl) for t in fig.data)
    assert sum(len(t.x) for t in fig.data) == len(emb)
    with pytest.raises(InputError, match="hover: expected 30001 rows"):
        figures.embedding_figure(emb, lab, hover=pd.DataFrame(dict(a=[1, 2])))


def test_heatmap_and_curve_errors():
    with pytest.raises(InputError, match="matrix: expected a 2D matrix"):
        figures.heatmap_figure(np.zeros(3), "abc", "abc")
    with pytest.raises(InputError, match="curves: expected a non-empty dict"):
        figures.curve_figure({})
    fig = figures.curve_figure({"fsc": (torch.linspace(0, 1, 4), torch.ones(4))}, log_y=True)
    assert fig.layout.yaxis.type == "log"


def test_slices_index_and_isosurface_level_errors(vol):
    with pytest.raises(InputError, match="index: expected"):
        viz.slices_figure(vol, index=(1, 2))
    with pytest.raises(InputError, match="level: expected a value between"):
        viz.isosurface_figure(vol, level=float(vol.min()))
    with pytest.raises(InputError, match="vol: expected a volume"):
        viz.slices_figure(np.zeros((4, 4)))
