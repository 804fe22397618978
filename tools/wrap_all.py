"""Re-wrap an exported module's `__all__` within 120 characters a line (run after `nbdev-export`; `make export` does).

nbdev wraps the list at 120 characters before it prepends `__all__ = `, so its first line can reach 130.
"""
import ast, sys
from pathlib import Path
from textwrap import TextWrapper

WIDTH = 120

def rewrap(text: str) -> str:
    lines = text.split("\n")
    start = next((i for i, l in enumerate(lines) if l.startswith("__all__ = [")), None)
    if start is None:
        return text
    end = start
    while not lines[end].rstrip().endswith("]"):
        end += 1
    if all(len(l) <= WIDTH for l in lines[start : end + 1]):
        return text
    names = ast.literal_eval(" ".join(lines[start : end + 1])[len("__all__ = ") :])
    tw = TextWrapper(width=WIDTH, initial_indent="__all__ = ", subsequent_indent=" " * 11, break_long_words=False)
    return "\n".join(lines[:start] + tw.wrap(str(names)) + lines[end + 1 :])

if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "cryo_disent")
    for p in sorted(root.rglob("*.py")):
        t = p.read_text()
        n = rewrap(t)
        if n != t:
            p.write_text(n)
