"""Author notebooks as percent-format text and convert both ways (a developer convenience; nbs/*.ipynb stay the source).

    python tools/nb.py tonb SRC.py nbs/NAME.ipynb   # percent text -> notebook (clean metadata, python3 kernel)
    python tools/nb.py topy nbs/NAME.ipynb OUT.py   # notebook -> percent text, to edit and convert back

Cell tags use jupytext's syntax: `# %% tags=["parameters"]`.
"""
import hashlib, sys
import jupytext

KERNEL = {"kernelspec": {"display_name": "python3", "language": "python", "name": "python3"}}

def tonb(src, dst):
    nb = jupytext.read(src, fmt="py:percent")
    nb.metadata = dict(KERNEL)
    seen = {}
    for c in nb.cells:
        c.metadata = {k: v for k, v in c.metadata.items() if k == "tags"}
        h = hashlib.sha1(c.source.encode()).hexdigest()[:8]  # stable ids: re-converting an unchanged cell keeps its id
        seen[h] = seen.get(h, -1) + 1
        c.id = h if not seen[h] else f"{h}-{seen[h]}"
    jupytext.write(nb, dst, fmt="ipynb")

def topy(src, dst):
    nb = jupytext.read(src)
    jupytext.write(nb, dst, fmt="py:percent")

if __name__ == "__main__":
    cmd, a, b = sys.argv[1:4]
    {"tonb": tonb, "topy": topy}[cmd](a, b)
