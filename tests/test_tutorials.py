"""Every tutorial runs end to end through papermill with tiny parameters (plus an out_dir in tmp and device="cpu"), and
its executed notebook, exported to HTML, shows every plotly figure in headless Chromium (offline). The executed copies
under docs/ (`make docs`, the tutorials' defaults) are current, free of errors, and render their figures offline."""
import json
import math
import re
import shutil
import subprocess
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from cryo_disent.app.sweep import run_notebook

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "tutorials").glob("*.ipynb"))
EXPERIMENTS = {"03_spatial_vae", "04a_affinity_alphanumeric", "04c_affinity_proteins", "05_dualcontrast", "06_harmony3d_mcl"}  # experiment notebooks: a table over methods × conditions, tested below, not a single run
GUIDES = {"00_index"}  # guides: run (nothing is trained), tested below, no metrics
SINGLE_RUNS = [nb for nb in TUTORIALS if nb.stem not in EXPERIMENTS | GUIDES]
# each single run's tiny values (its defaults are the meaningful, minutes-long run that `make docs` shows) and what they
# give: its particle count, the run folder that holds its trainer's config.json, and an ARI floor where it scores above
# chance (random labels on 01's 4 × 12 particles: ARI ≤ 0.15 in 3000 draws); 04b at its tiny size is at chance: no floor
SINGLE_RUN_TINY = {"01_quickstart": dict(n_per_class=12, box=24, latent_dim=4, epochs=2, batch_size=16),
                   "04b_affinity_tetromino": dict(n_per_class=8, epochs=1, n_rotations=50, refine_steps=[8.0],
                                                  affinities=["fsc", "mean_difference"])}
SINGLE_RUN_EXPECT = {"01_quickstart": dict(n=48, min_ari=0.3, run="."),  # measured 0.61 (likelihood classification, K = 4 given)
                     "04b_affinity_tetromino": dict(n=24, min_ari=None, run="runs/fsc")}


def finite(values) -> bool:
    "Every value a finite number (scores whose range holds by construction: NaN or ±inf is what can go wrong)."
    return bool(np.isfinite(np.asarray(values, dtype=float)).all())


def test_tutorials_exist():
    assert SINGLE_RUNS, "no tutorials found"
    assert EXPERIMENTS <= {nb.stem for nb in TUTORIALS}, "an experiment notebook named in EXPERIMENTS is missing"
    assert set(SINGLE_RUN_EXPECT) == set(SINGLE_RUN_TINY) == {nb.stem for nb in SINGLE_RUNS}, \
        "say in SINGLE_RUN_TINY / SINGLE_RUN_EXPECT how a single-run tutorial is run small and what it gives"


@pytest.mark.slow
@pytest.mark.parametrize("nb", SINGLE_RUNS, ids=lambda p: p.stem)
def test_tutorial_runs(nb, tmp_path):
    out_dir = tmp_path / "run"
    run_notebook(nb, tmp_path / nb.name, parameters=dict(out_dir=str(out_dir), device="cpu", **SINGLE_RUN_TINY[nb.stem]), cwd=ROOT)
    metrics = json.loads((out_dir / "metrics.json").read_text())
    expect = SINGLE_RUN_EXPECT[nb.stem]
    trained = json.loads((out_dir / expect["run"] / "config.json").read_text())
    assert trained["train_config"]["device"] == "cpu"  # the `device` parameter reaches the trainer
    assert metrics["n"] == expect["n"] and finite([metrics["accuracy"], metrics["ari"]]), metrics
    if expect["min_ari"] is not None:
        assert metrics["ari"] > expect["min_ari"], metrics["ari"]
    assert (out_dir / "report.html").stat().st_size > 100_000  # plotly.js inlined
    assert check_in_browser(tmp_path / nb.name, tmp_path) >= 1


def _outputs(nb_path) -> list:
    "Every output of every code cell of an executed notebook."
    cells = json.loads(Path(nb_path).read_text())["cells"]
    return [o for c in cells if c["cell_type"] == "code" for o in c.get("outputs", [])]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _chromium(page: Path, *action, timeout=300) -> str:
    "Run headless Chromium on `page` (a private profile, no network needed), JS given 30 s of virtual time; its stdout."
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
           f"--user-data-dir={page.parent / 'chromium-profile'}", "--virtual-time-budget=30000", *action, page.as_uri()]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def check_in_browser(executed, tmp_path):
    """Export `executed` to HTML (nbconvert), open it in headless Chromium: every plotly output of the notebook is a
    rendered plot in the DOM (plotly.js adds `js-plotly-plot` and draws its `main-svg` only when it ran), and the
    screenshot is not blank. Skipped only when no Chromium is installed (`.ci/run` installs it)."""
    if CHROMIUM is None: pytest.skip("chromium is not installed (apt-get install -y chromium; .ci/run does it)")
    from nbconvert import HTMLExporter
    from PIL import Image
    html, _ = HTMLExporter().from_filename(str(executed))
    page = tmp_path / f"{Path(executed).stem}.html"
    page.write_text(html)
    expected = sum("application/vnd.plotly.v1+json" in o.get("data", {}) for o in _outputs(executed))
    dom = _chromium(page, "--dump-dom")
    rendered = len(re.findall(r'class="[^"]*\bjs-plotly-plot\b', dom))
    assert rendered == expected, f"{page.name}: {rendered} of {expected} plotly figures rendered in Chromium"
    assert len(re.findall(r'class="main-svg"', dom)) >= expected
    shot = tmp_path / f"{Path(executed).stem}.png"
    _chromium(page, f"--screenshot={shot}", "--window-size=1280,3000")
    img = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3)
    assert len(np.unique(img[::7], axis=0)) > 32, f"{shot.name}: the page looks blank"
    return expected


HARMONY_TINY = dict(n_per_class=8, box=16, latent_dim=4, epochs=1, epochs_by_method={}, batch_size=16, n_rotations=50, device="cpu",
                    model_configs={"beta_vae": {"channels": [8, 16, 32]}, "harmony3d": {"channels": [8, 16, 32, 64], "hidden": 64},
                                   "harmony3d_mcl": {"channels": [8, 16, 32, 64], "hidden": 64, "mcl_candidates": 16}})


@pytest.mark.slow
def test_harmony_experiment_table(tmp_path):
    """The Harmony3D/MCL experiment on a 2 × 1 grid at tiny size: one row per method × condition, scores in range,
    K by BIC, the CSV and HTML written, the figures drawn, no error in the executed notebook."""
    out_dir = tmp_path / "run"
    methods = ["beta_vae", "harmony3d", "harmony3d_mcl"]
    executed = run_notebook(ROOT / "tutorials" / "06_harmony3d_mcl.ipynb", tmp_path / "06.ipynb", cwd=ROOT,
                            parameters=dict(out_dir=str(out_dir), snrs=[0.1, 0.01], mwas=[30.0], methods=methods, **HARMONY_TINY))
    outputs = _outputs(executed)
    assert not [o for o in outputs if o["output_type"] == "error"]
    table = pd.read_csv(out_dir / "table1.csv")
    assert len(table) == 6
    assert sorted(zip(table["method"], table["snr"], table["mwa"])) == sorted((m, s, 30.0) for m in methods for s in (0.1, 0.01))
    # at this size every model scores at chance (ARI -0.02..0.01, classwise pose errors 32-48° where the symmetric classes
    # make random poses look good): the scores must be there and finite, their ranges hold by construction
    assert finite(table[["ari", "accuracy"]])
    assert (table["k_chosen_by"] == "icl").all() and table["k"].between(2, 10).all()
    harmony = table[table["method"] != "beta_vae"]
    assert finite(harmony[["sap", "shift_error_median_vox", "average_auc_fsc_mean"]])
    assert finite(table["pose_error_median_deg"])  # every model gets poses by refinement against its templates
    assert table["model_pose_error_median_deg"][table["method"] == "beta_vae"].isna().all()  # β-VAE has no pose of its own
    assert finite(harmony["model_pose_error_median_deg"])
    fsc = table.filter(like="template_auc_fsc[").to_numpy(dtype=float)
    assert fsc.shape[1] == 4  # one column per seed004 class, filled for the classes a cluster was matched to
    assert (~np.isnan(fsc)).any(axis=1).all() and finite(fsc[~np.isnan(fsc)])
    for m, s in zip(table["method"], table["snr"]):  # every run's own files agree with its row
        met = json.loads((out_dir / "runs" / f"snr{s:g}_mwa30" / m / "metrics.json").read_text())
        assert json.loads((out_dir / "runs" / f"snr{s:g}_mwa30" / m / "config.json").read_text())["train_config"]["device"] == "cpu"
        assert math.isclose(met["ari"], table.set_index(["method", "snr"]).loc[(m, s), "ari"], abs_tol=1e-12)
    assert (out_dir / "table1.html").stat().st_size > 100_000  # plotly.js inlined
    plots = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(plots) >= 4  # table, heatmap, templates/averages/truth, traversal (+ isosurfaces when drawable)
    check_in_browser(executed, tmp_path)


SPATIAL_TINY = {"latent_dim": 8, "hidden": 32, "decoder_hidden": 32, "channels": [8, 4], "lowpass": 4.0, "lr": 1e-3,
                "beta": {"kind": "linear", "start": 0.0, "end": 1.0, "epochs": 2}, "encoder": "cnn", "encoder_channels": [4, 8],
                "shift_frame": "image", "shift_head": "softargmax", "shift_channels": [4], "centre_weight": 1.0,
                }  # the notebook's defaults are the CPU run, with its options at tiny widths


@pytest.mark.slow
def test_spatial_vae_tables(tmp_path):
    """The 3D Spatial-VAE tutorial at tiny size on two SNRs: Table 1 in shape (3 models × 2 SNRs, finite ELBO/KL, scores
    in range, pose scores for the spatial models only), the cross-domain table, figures, no error in the notebook."""
    out_dir = tmp_path / "run"
    methods = ["vae3d_mlp", "spatial_vae3d", "spatial_vae3d_cnn"]  # all three (3D-SpVAE++ is opt-in in the defaults)
    executed = run_notebook(ROOT / "tutorials" / "03_spatial_vae.ipynb", tmp_path / "03.ipynb", cwd=ROOT,
                            parameters=dict(out_dir=str(out_dir), snrs=[0.1, 0.01], n_per_class=4, box=12, epochs=1,
                                            model_config=SPATIAL_TINY, device="cpu", methods=methods))
    outputs = _outputs(executed)
    assert not [o for o in outputs if o["output_type"] == "error"]
    table = pd.read_csv(out_dir / "table1.csv")
    assert sorted(zip(table["method"], table["snr"])) == sorted((m, s) for m in methods for s in (0.1, 0.01))
    assert finite(table[["elbo", "kl", "recon"]])
    assert (table["kl"] > 0.1).all(), table["kl"]  # measured 0.27 (MLP VAE) to 11.2; a KL term lost or a posterior equal to the prior gives 0
    assert ((table["elbo"] + table["recon"] + table["kl"]).abs() < 1e-3 * table["recon"].abs()).all()  # ELBO = −(recon + KL)
    # 1 epoch on 4 particles a class: ARI (-0.06..0.03), pose errors (~100°) and shift |r| (0.19-0.83) are at chance
    assert finite(table[["ari", "d_class_z"]])
    spatial = table[table["method"] != "vae3d_mlp"]
    assert finite(spatial[["pose_error_median_deg", "shift_abs_r_mean"]])
    assert table.loc[table["method"] == "vae3d_mlp", "pose_error_median_deg"].isna().all()  # no pose, no pose error
    cross = pd.read_csv(out_dir / "cross_domain.csv")
    assert len(cross) == 6 and cross[["eval_snr0.1", "eval_snr0.01"]].notna().all().all()
    for m, s in zip(table["method"], table["snr"]):  # the diagonal of the cross-domain table is Table 1's ELBO
        diag = cross.set_index(["method", "trained_on"]).loc[(m, s), f"eval_snr{s:g}"]
        assert math.isclose(diag, table.set_index(["method", "snr"]).loc[(m, s), "elbo"], rel_tol=1e-6)
    assert (out_dir / "spatial_vae.html").stat().st_size > 100_000  # plotly.js inlined
    plots = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(plots) >= 4  # table, reconstructions, two traversals
    check_in_browser(executed, tmp_path)


DUALCONTRAST_TINY = dict(datasets=["digits", "alphanumeric", "seed004", "conformations"], device="cpu", n_per_class_2d=5, n_per_class_3d=2, box=16, crop_3d=0, epochs_2d=1, epochs_3d=1, latent_dim_3d=8,
                         dc_config={"width": 4, "hidden": [16, 32]}, model_configs={"beta_vae": {"channels": [8, 16]},
                         "harmony3d": {"channels": [8, 16, 32, 64], "hidden": 64}})  # the notebook's defaults are CPU-sized runs


@pytest.mark.slow
def test_dualcontrast_experiment_table(tmp_path):
    """The DualContrast experiment at tiny size on all four data sets: one Table-2 row per data set × method (harmony3d on
    volumes only), scores in range, conformations rows with the identity ARI and hinge correlations, one swap grid per
    data set, the CSV and HTML written, no error in the executed notebook."""
    out_dir = tmp_path / "run"
    methods = ["dualcontrast", "no_con_z", "beta_vae", "harmony3d"]
    executed = run_notebook(ROOT / "tutorials" / "05_dualcontrast.ipynb", tmp_path / "05.ipynb", cwd=ROOT,
                            parameters=dict(out_dir=str(out_dir), methods=methods, n_swap=3, **DUALCONTRAST_TINY))
    outputs = _outputs(executed)
    assert not [o for o in outputs if o["output_type"] == "error"]
    table = pd.read_csv(out_dir / "table2.csv")
    expected = [(d, m) for d in ("digits", "alphanumeric", "seed004", "conformations") for m in methods
                if not (m == "harmony3d" and d in ("digits", "alphanumeric"))]
    assert list(zip(table["data"], table["method"])) == expected
    # 1 epoch on 2-5 items a class: the scores are at chance (ARI(c) -0.19..0.42 on 8-50 items); there and finite
    assert finite(table[["D(c|c)", "ARI(c)"]])
    two_codes = table[table["method"] != "beta_vae"]
    assert finite(two_codes[["D(c|z)", "S(z)", "SAP(c)"]])
    assert table.loc[table["method"] == "beta_vae", ["D(c|z)", "S(z)"]].isna().all().all()
    conf = table[table["data"] == "conformations"]
    assert finite(conf[["ARI(c→identity)", "hinge ρ(c)"]])
    assert finite(two_codes.loc[two_codes["data"] == "conformations", "hinge ρ(z)"])
    assert (out_dir / "table2.html").stat().st_size > 100_000  # plotly.js inlined
    plots = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(plots) >= 5  # the table and one swap grid per data set
    check_in_browser(executed, tmp_path)


@pytest.mark.slow
def test_affinity_alphanumeric(tmp_path):
    """Affinity-VAE on rotated characters at tiny size: the latent map's scores in range, the unseen `v` placed on seen
    classes only (fractions summing to 1), the affinity matrix written, the figures drawn, no error."""
    out_dir = tmp_path / "run"
    executed = run_notebook(ROOT / "tutorials" / "04a_affinity_alphanumeric.ipynb", tmp_path / "04a.ipynb", cwd=ROOT,
                            parameters=dict(out_dir=str(out_dir), n_per_class=10, epochs=1, device="cpu"))
    outputs = _outputs(executed)
    assert not [o for o in outputs if o["output_type"] == "error"]
    m = json.loads((out_dir / "metrics.json").read_text())
    assert m["n"] == 10 + 2 * 9  # 10 v + 20 % of each seen class
    # nearest-centre accuracy on the 18 seen test images: measured 11 right (0.61); random guesses over the 9 classes get 2
    # (0.11), 7 or more in 0.2 % of draws. Latent similarity vs the affinity matrix: measured r = 0.89, random latents ~0
    assert m["accuracy"] > 0.35 and m["affinity_correlation"] > 0.5, (m["accuracy"], m["affinity_correlation"])
    assert finite([m["ari"], m["pose_abs_r"]])  # at chance after 1 epoch (0.12, 0.29)
    assert set(m["unseen_landing"]) == {"v"} and "v" not in m["unseen_landing"]["v"]
    assert math.isclose(sum(m["unseen_landing"]["v"].values()), 1.0)
    assert set(m["f1"]) == set("aebdijz2u")
    assert set(m["pose_fit"]) == set("aebdijz2uv") and m["pose_prior"] == "class_mean"  # per-class slope/offset of ψ vs angle
    assert np.load(out_dir / "latents.npz")["test_content"].shape == (m["n"], 8)
    assert pd.read_csv(out_dir / "affinity.csv", index_col=0).shape == (9, 9)
    assert (out_dir / "report.html").stat().st_size > 100_000
    plots = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(plots) >= 7  # affinity, training, map, confusion, latents vs affinity, pose, traversal, interpolation
    assert {"v: soap", "v: fsc", "v: mean_difference"} <= set(m["unseen_nearest_by_affinity"])
    check_in_browser(executed, tmp_path)


@pytest.mark.slow
def test_affinity_proteins(tmp_path):
    """CNN-aVAE, GMD-aVAE and β-VAE on the `affinity` preset at tiny size (the notebook's defaults are the recorded run's):
    one row per method with scores in range, where each unseen protein lands, the decoded templates and interpolations
    (GMD centres as a 3D scatter) drawn, no error."""
    out_dir = tmp_path / "run"
    methods = ["affinity_vae", "affinity_vae_gmd", "beta_vae"]
    executed = run_notebook(ROOT / "tutorials" / "04c_affinity_proteins.ipynb", tmp_path / "04c.ipynb", cwd=ROOT,
                            parameters=dict(out_dir=str(out_dir), n_per_class=6, box=16, epochs=1, gamma=100.0, batch_size=16,
                                            n_gaussians=32, methods=methods, device="cpu"))
    outputs = _outputs(executed)
    assert not [o for o in outputs if o["output_type"] == "error"]
    m = json.loads((out_dir / "metrics.json").read_text())
    assert [r["method"] for r in m["per_method"]] == methods and m["n"] > 0
    for r in m["per_method"]:  # classification and ARI at chance after 1 epoch (accuracy 0.10-0.25 of 10 classes)
        assert finite([r["accuracy_mlp"], r["accuracy_nearest_centre"], r["ari"]])
        assert r["1TII_AB5_toxin lands on"] and r["3O21_GluA3NTD_dimer lands on"]
    # the affinity term shapes the latents even here: r(latent similarity, SOAP affinity) measured 0.66 (CNN) and 0.59
    # (GMD); the β-VAE, which never sees the affinity, -0.12
    assert all(r["affinity_correlation"] > 0.3 for r in m["per_method"] if r["method"] != "beta_vae"), m["per_method"]
    assert (out_dir / "report.html").stat().st_size > 100_000
    plots = [o["data"]["application/vnd.plotly.v1+json"] for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert any(t.get("type") == "scatter3d" for p in plots for t in p["data"])  # the GMD's Gaussian centres
    assert len(plots) >= 1 + 2 * len(methods) + 2 * len(methods) + 1  # affinity; latents/confusion; templates/interpolation; splats
    check_in_browser(executed, tmp_path)


def test_parameters_cell_is_tagged():
    """nbdev-clean must keep papermill's `parameters` tag (pyproject: allowed_cell_metadata_keys = ["tags"])."""
    for nb in TUTORIALS:
        cells = json.loads(nb.read_text())["cells"]
        assert any("parameters" in c.get("metadata", {}).get("tags", []) for c in cells), nb.name


@pytest.mark.slow
def test_index_guide(tmp_path):
    "The guided map runs, lists every tutorial's parameters and writes a loadable example sweep grid."
    from cryo_disent.app.sweep import expand, load_grid
    out_dir = tmp_path / "run"
    executed = run_notebook(ROOT / "tutorials" / "00_index.ipynb", tmp_path / "00.ipynb", cwd=ROOT,
                            parameters=dict(out_dir=str(out_dir), snrs=[0.5]))
    assert not [o for o in _outputs(executed) if o["output_type"] == "error"]
    check_in_browser(executed, tmp_path)
    assert [r["point"] for r in expand(load_grid(out_dir / "grid.yaml"))] == [dict(snr=0.5, model="beta_vae"), dict(snr=0.5, model="harmony3d")]


DOCS = ROOT / "docs"


def _page_text(html: str) -> str:
    "The text of an HTML page (scripts and styles dropped, tags stripped, entities unescaped), whitespace collapsed."
    import html as html_lib
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S | re.I)
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", "", text)).split())


def check_docs_page(nb: Path, docs: Path, tmp_path: Path) -> int:
    """`docs/<name>.html` of tutorial `nb` is current and whole: it holds the tutorial's first heading and the source of
    every code cell (a copy made before the code changed fails), no error or traceback, no script from the network, and
    in headless Chromium (network blocked) every plotly figure of the page is drawn. Returns the number of figures."""
    page = docs / f"{nb.stem}.html"
    assert page.is_file(), f"{page.relative_to(docs.parent)} is missing: run `make docs` (or tutorials/make_docs.py --only {nb.stem})"
    html = page.read_text(encoding="utf-8")
    text = _page_text(html)
    cells = json.loads(nb.read_text())["cells"]
    heading = next(line.lstrip("# ").strip() for c in cells if c["cell_type"] == "markdown"
                   for line in "".join(c["source"]).splitlines() if line.startswith("#"))
    assert " ".join(heading.split()) in text, f"{page.name}: stale, no heading {heading!r}: run `make docs`"
    for c in cells:
        src = " ".join("".join(c["source"]).split())
        if c["cell_type"] == "code" and src:
            assert src in text, f"{page.name}: stale, the tutorial's cell {src[:80]!r}… differs: run `make docs`"
    assert "papermill-error-cell" not in html and "Traceback (most recent call last)" not in text, f"{page.name}: an error"
    assert not re.findall(r'<script[^>]*\bsrc="(?:https?:)?//', html), f"{page.name}: loads a script from the network"
    local = re.findall(r'<script[^>]*\bsrc="([^":]+)"', html) + re.findall(r'<link[^>]*\bhref="([^":#]+)"', html)
    assert all((docs / s).is_file() for s in local), f"{page.name}: a script or style sheet it loads is missing: {local}"
    assert str(ROOT) not in html, f"{page.name}: holds this machine's path of the repository"
    expected = len(re.findall(r'class="plotly-graph-div"', html))
    if nb.stem not in GUIDES: assert expected >= 1, f"{page.name}: no plotly figure"
    if not expected: return 0
    if CHROMIUM is None: pytest.skip("chromium is not installed (apt-get install -y chromium; .ci/run does it)")
    view = tmp_path / "docs"  # a copy with its scripts, so that Chromium's profile lands in tmp
    view.mkdir(exist_ok=True)
    for f in [page.name, *local]:
        (view / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(docs / f, view / f)
    dom = _chromium(view / page.name, "--dump-dom", "--host-resolver-rules=MAP * ~NOTFOUND")
    rendered = len(re.findall(r'class="[^"]*\bjs-plotly-plot\b', dom))
    assert rendered == expected, f"{page.name}: {rendered} of {expected} plotly figures rendered in Chromium"
    assert len(re.findall(r'class="main-svg"', dom)) >= expected
    return expected


@pytest.mark.slow
@pytest.mark.parametrize("nb", TUTORIALS, ids=lambda p: p.stem)
def test_docs_page(nb, tmp_path):
    check_docs_page(nb, DOCS, tmp_path)


@pytest.mark.slow
def test_docs_check_fails_on_broken_copies(tmp_path):
    "The docs check fails on a stale copy, a copy with an error, and a page whose plotly.js is missing."
    nb = ROOT / "tutorials" / "04a_affinity_alphanumeric.ipynb"
    good = (DOCS / f"{nb.stem}.html").read_text(encoding="utf-8")
    broken = tmp_path / "broken"
    shutil.copytree(DOCS / "css", broken / "css")  # the pages' shared style sheets
    breakages = {"stale": lambda h: h.replace("centre_metric", "centre_kind"),  # the tutorial's code changed since
                 "error": lambda h: h.replace("</body>", '<div id="papermill-error-cell">An Exception was encountered</div></body>'),
                 "plotly_js_broken": lambda h: h}  # Chromium draws no figure
    for what, change in breakages.items():
        (broken / f"{nb.stem}.html").write_text(change(good), encoding="utf-8")
        (broken / "plotly.min.js").write_text("" if what == "plotly_js_broken" else (DOCS / "plotly.min.js").read_text())
        (tmp_path / what).mkdir()
        with pytest.raises(AssertionError, match="stale" if what == "stale" else "error" if what == "error" else "rendered"):
            check_docs_page(nb, broken, tmp_path / what)
    check_docs_page(nb, DOCS, tmp_path)  # and passes on the good copy


def test_device_parameter():
    "Every tutorial has `device` in its parameters, \"auto\" by default, and no cell forces the CPU."
    import papermill as pm
    for nb in TUTORIALS:
        assert pm.inspect_notebook(str(nb)).get("device", {}).get("default") == '"auto"', nb.name
        code = "".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code")
        assert not re.search(r"""device\s*=\s*["']cpu["']""", code), f"{nb.name}: device forced to the CPU"
