"""No library line over 120 characters (`make lint`): ruff's E501 on `cryo_disent/`, except the `__all__` line that
nbdev writes itself (it wraps the names at 120 characters and then prepends `__all__ = `, so that line can reach 130).
"""
import re, subprocess, sys
from pathlib import Path

def main(root="cryo_disent") -> int:
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "E501", "--output-format", "concise", root],
                       capture_output=True, text=True)
    bad = []
    for line in r.stdout.splitlines():
        m = re.match(r"(.+?):(\d+):\d+: E501", line)
        if m and not Path(m[1]).read_text().splitlines()[int(m[2]) - 1].startswith("__all__ = "):
            bad.append(line)
    print("\n".join(bad) or "no line over 120 characters (nbdev's __all__ lines aside)")
    return 1 if bad or r.returncode not in (0, 1) else 0

if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
