"""Execute every tutorial with its defaults and render it to `docs/<name>.html` (`make docs`).

Each notebook runs through papermill (kernel `python3`, cwd the repository root, this checkout's `cryo_disent` first on
the kernel's path) with its defaults except `out_dir = runs/docs/<name>` (emptied first: a fresh run, nothing resumed),
into `runs/docs/<name>.ipynb`; then `jupyter nbconvert --to html` renders it. Plotly figures are
written with plotly.js embedded once per notebook; the HTML then loads it from one shared `docs/plotly.min.js` (copied
from the installed plotly), so every page works offline and plotly.js is stored once.

    python tutorials/make_docs.py                 # every tutorial
    python tutorials/make_docs.py --only 04a_affinity_alphanumeric
"""
import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"
STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.S)
CDN_SCRIPT = re.compile(r'<script[^>]*src="https://[^"]*(require|mathjax)[^"]*"[^>]*>\s*</script>\n?', re.I)  # not needed offline


def execute(nb: Path, out: Path, kernel: str) -> float:
    "Run `nb` with its default parameters (out_dir: a fresh `out` without `.ipynb`) into `out`; the wall time in seconds."
    run_dir = out.with_suffix("")
    shutil.rmtree(run_dir, ignore_errors=True)
    import papermill as pm
    env = {"PLOTLY_RENDERER": "plotly_mimetype+notebook",  # mimetype for JupyterLab + HTML with plotly.js embedded once
           "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits them
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(str(nb), str(out), parameters=dict(out_dir=str(run_dir.relative_to(ROOT) if run_dir.is_relative_to(ROOT) else run_dir)),
                            cwd=str(ROOT), kernel_name=kernel, progress_bar=False)
    finally:
        for k, v in old.items():
            if v is None: os.environ.pop(k, None)
            else: os.environ[k] = v
    return time.perf_counter() - t0


def render(executed: Path, docs: Path, plotlyjs: str) -> Path:
    "`jupyter nbconvert --to html` into docs/; the embedded plotly.js replaced by docs/plotly.min.js, CDN scripts dropped."
    subprocess.run([sys.executable, "-m", "nbconvert", "--to", "html", "--log-level", "WARN", "--output-dir", str(docs),
                    str(executed)], check=True)
    page = docs / f"{executed.stem}.html"
    html = page.read_text(encoding="utf-8")
    html = html.replace(f"<script>{plotlyjs}</script>", '<script src="plotly.min.js"></script>')
    has_plots = "Plotly.newPlot" in html
    if has_plots and 'src="plotly.min.js"' not in html:  # figures but no copy of plotly.js to replace: load the shared one
        html = html.replace("</head>", '<script src="plotly.min.js"></script>\n</head>', 1)
    html = html.replace(str(ROOT) + "/", "").replace(str(ROOT), ".")  # paths in outputs relative to the repository
    page.write_text(shared_styles(CDN_SCRIPT.sub("", html), docs), encoding="utf-8")
    return page


def shared_styles(html: str, docs: Path, min_size: int = 10_000) -> str:
    "nbconvert's large inline style sheets (the same in every page) moved to `docs/css/<sha1>.css`, linked once each."
    def move(m):
        css = m.group(1)
        if len(css) < min_size: return m.group(0)
        name = f"css/{hashlib.sha1(css.encode()).hexdigest()[:12]}.css"
        (docs / "css").mkdir(exist_ok=True)
        (docs / name).write_text(css, encoding="utf-8")
        return f'<link rel="stylesheet" href="{name}">'
    return STYLE.sub(move, html)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", action="append", metavar="NAME", help="a tutorial's name (e.g. 01_quickstart); repeatable")
    p.add_argument("--docs", default=str(ROOT / "docs"), help="where the HTML goes (default: docs/)")
    p.add_argument("--runs", default=str(ROOT / "runs" / "docs"), help="where the executed notebooks go")
    p.add_argument("--kernel", default="python3")
    p.add_argument("--render-only", action="store_true", help="render the executed notebooks already in --runs")
    a = p.parse_args(argv)
    nbs = sorted(TUTORIALS.glob("[0-9]*.ipynb"))
    if a.only:
        unknown = sorted(set(a.only) - {nb.stem for nb in nbs})
        if unknown: p.error(f"--only: no tutorial named {unknown}; expected one of {[nb.stem for nb in nbs]}")
        nbs = [nb for nb in nbs if nb.stem in a.only]
    docs, runs = Path(a.docs), Path(a.runs)
    docs.mkdir(parents=True, exist_ok=True)
    runs.mkdir(parents=True, exist_ok=True)
    from plotly.offline import get_plotlyjs
    plotlyjs = get_plotlyjs()
    (docs / "plotly.min.js").write_text(plotlyjs, encoding="utf-8")
    total = 0.0
    for nb in nbs:
        executed = runs / nb.name
        if not a.render_only:
            print(f"{nb.stem}: executing ...", flush=True)
            s = execute(nb, executed, a.kernel)
            total += s
            print(f"{nb.stem}: executed in {s / 60:.1f} min", flush=True)
        page = render(executed, docs, plotlyjs)
        print(f"{nb.stem}: {page.relative_to(ROOT) if page.is_relative_to(ROOT) else page} ({page.stat().st_size / 1e6:.2f} MB)", flush=True)
    if not a.render_only: print(f"all executed in {total / 60:.1f} min")


if __name__ == "__main__":
    main()
