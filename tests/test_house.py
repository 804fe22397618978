"""House rules that keep the repository readable and portable (CONVENTIONS.md)."""
import io, json, subprocess, sys, tokenize
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _tracked(*patterns):
    out = subprocess.run(["git", "ls-files", *patterns], cwd=REPO, capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip("not a git checkout")
    return [REPO / p for p in out.stdout.split()]


def test_no_absolute_paths_of_a_machine():
    "Data next to the repository is found through `../shared` or $CRYO_DISENT_SHARED, never one machine's absolute path."
    bad_prefixes = ["/" + "work/", "/" + "home/", "/" + "Users/"]  # split so that this file does not match itself
    hits = [f"{p.relative_to(REPO)}: {pre}" for p in _tracked("*.py", "*.ipynb", "*.md", "*.ini", "*.toml", "Makefile")
            if p.is_file() for pre in bad_prefixes if pre in p.read_text(errors="ignore")]
    assert not hits, hits


def test_simulate_does_not_import_data():
    "The book's order: `simulate` (chapter 04) must not need `data` (06) at import time."
    code = "import sys, cryo_disent.physics.simulate; print('cryo_disent.data.datasets' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "False"


def test_modules_stay_under_400_lines():
    "A module above ~400 lines is split by concept (one notebook per module)."
    long = {str(p.relative_to(REPO)): n for p in (REPO / "cryo_disent").rglob("*.py")
            if p.name != "_modidx.py" and (n := len(p.read_text().splitlines())) > 400}
    assert not long, long


ONE_STATEMENT_A_LINE = sorted(p.stem for p in (REPO / "nbs").glob("*.ipynb"))  # every notebook of the book


@pytest.mark.parametrize("name", ONE_STATEMENT_A_LINE)
def test_export_cells_have_one_statement_a_line(name):
    "No `a; b` in exported code: read aloud, one statement a line."
    nb = json.loads((REPO / "nbs" / f"{name}.ipynb").read_text())
    packed = []
    for c in nb["cells"]:
        src = "".join(c["source"])
        if c["cell_type"] != "code" or not src.lstrip().startswith("#| export"):
            continue
        depth = 0
        for t in tokenize.generate_tokens(io.StringIO(src).readline):
            depth += t.string in "([{" and t.type == tokenize.OP
            depth -= t.string in ")]}" and t.type == tokenize.OP
            if t.type == tokenize.OP and t.string == ";" and depth == 0:
                packed.append(t.line.strip())
    assert not packed, packed
