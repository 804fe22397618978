"""Build the shipped structures (`cryo_disent/assets/structures.npz` + `structures.tsv`) from real PDB/mmCIF models.

    python tools/build_structures.py [--src DIR] [--max-atoms 12000]

DIR (default: `$CRYO_DISENT_SHARED/data/structures`, else `shared/data/structures` in or next to the repository) holds the model files `NAME.pdb.gz`/`NAME.cif.gz` and
`PROVENANCE.tsv` (columns: name, source_path_in_extracted_package, selection). Each model is read with gemmi
(`cryo_disent.physics.structures.read_atoms`: hydrogens, waters, altlocs and OPM dummy atoms dropped, the `selection` applied:
None / asm / chains:PREFIX / protein), and reduced to at most `--max-atoms` electron-weighted pseudo-atoms by weighted
k-means (`coarse_grain`). Smaller structures keep one point per heavy atom. The result is deterministic; both files are
written atomically. The budget for the package data is 5 MB.
"""
import argparse, csv, os, sys, tempfile, time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from cryo_disent.physics.structures import coarse_grain, max_extent, read_atoms  # noqa: E402

BUDGET = 5 * 2**20


def default_src() -> Path:
    "$CRYO_DISENT_SHARED/data/structures, else `shared/` inside or next to the repository (no machine's absolute path)."
    env = os.environ.get("CRYO_DISENT_SHARED")
    for cand in ([Path(env)] if env else []) + [REPO / "shared", REPO.parent / "shared"]:
        if (cand / "data" / "structures" / "PROVENANCE.tsv").is_file():
            return cand / "data" / "structures"
    return REPO.parent / "shared" / "data" / "structures"


def build(src: Path, max_atoms: int) -> tuple[dict, list]:
    rows = list(csv.DictReader(open(src / "PROVENANCE.tsv"), delimiter="\t"))
    arrays, table = {}, []
    for r in rows:
        name, t0 = r["name"], time.time()
        files = sorted(src.glob(f"{name}.*"))
        if len(files) != 1: raise SystemExit(f"{src}: expected one model file for {name}, found {[f.name for f in files]}")
        full = read_atoms(files[0], r["selection"], name=name)
        pa = coarse_grain(full, max_atoms).centred()
        arrays[f"{name}/xyz"], arrays[f"{name}/weight"], arrays[f"{name}/sigma2"] = pa.xyz, pa.weight, pa.sigma2
        pdb_id, _, desc = name.partition("_")
        table.append(dict(
            name=name, pdb_id=pdb_id, description=desc.replace("_", " "), selection=r["selection"],
            source=f"{r['source_path_in_extracted_package']}", file=files[0].name,
            n_atoms=len(full), n_pseudo=len(pa), rg_A=round(pa.rg, 2), r_max_A=round(pa.r_max, 2),
            extent_A=round(max_extent(full), 2),
            spread_A=round(float(np.sqrt(np.average(pa.sigma2, weights=pa.weight))), 3)))
        print(f"{name:28s} {len(full):7d} atoms -> {len(pa):6d} points  rg {pa.rg:6.1f}  r_max {pa.r_max:6.1f}  "
              f"spread {table[-1]['spread_A']:.2f} Å  ({time.time() - t0:.1f} s)", flush=True)
    return arrays, table


def write_atomic(path: Path, write):
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp); os.chmod(tmp, 0o644); os.replace(tmp, path)
    finally:
        if os.path.exists(tmp): os.unlink(tmp)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", type=Path, default=default_src(), help="folder with the model files and PROVENANCE.tsv")
    ap.add_argument("--max-atoms", type=int, default=12000, help="pseudo-atoms per structure at most")
    ap.add_argument("--out", type=Path, default=REPO / "cryo_disent" / "assets")
    a = ap.parse_args(argv)
    arrays, table = build(a.src, a.max_atoms)
    a.out.mkdir(parents=True, exist_ok=True)
    write_atomic(a.out / "structures.npz", lambda p: np.savez_compressed(open(p, "wb"), **arrays))
    cols = list(table[0])
    write_atomic(a.out / "structures.tsv", lambda p: Path(p).write_text(
        "\n".join(["\t".join(cols)] + ["\t".join(str(r[c]) for c in cols) for r in table]) + "\n"))
    size = sum((a.out / f).stat().st_size for f in ("structures.npz", "structures.tsv"))
    print(f"wrote {a.out}/structures.npz + .tsv: {len(table)} structures, {size / 2**20:.2f} MiB (budget 5 MiB)")
    if size > BUDGET: raise SystemExit(f"package data is {size / 2**20:.2f} MiB, over the 5 MiB budget: lower --max-atoms")


if __name__ == "__main__":
    main()
