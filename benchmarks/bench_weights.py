"""Per-particle weights in class averages: the CTF-corrected average (`class_averages`, `wedge="auto"` on data with
weights) against the binary-wedge average with the set's mean missing-wedge angle, with true labels and poses.

    OMP_NUM_THREADS=1 python benchmarks/bench_weights.py averages [--n-per-class 150] [--box 32] [--snr 0.1 0.01]
        [--seed 0] [--root DIR] [--out benchmarks/results/bench_weights_averages.json]

For each SNR: simulates `seed004_tomo` (per-tomogram tilt ranges ±40–60°, defocus 2–6 µm, exposure 60–120 e⁻/Å², signed
CTF, not premultiplied) into a temporary folder (or under `--root`), averages every class with the true poses both
ways, and compares each average with its class's `references.npy` map in the particles' contrast (AUC-FSC,
`physics.fourier.auc_fsc`; no alignment: the true poses put the averages in the references' frame). Also the
gold-standard half-set FSC resolution (`half_set_fsc`, 0.143) of both ways. Prints one JSON line per SNR and writes
them all to `--out`.
"""
import argparse, json, platform, tempfile, time
from pathlib import Path
import numpy as np


def averages_case(root: Path, n: int, box: int, snr: float, seed: int) -> dict:
    import torch
    from cryo_disent.analysis.averaging import class_averages, half_set_fsc
    from cryo_disent.data.datasets import VolumeDataset
    from cryo_disent.physics.fourier import auc_fsc
    from cryo_disent.physics.simulate import simulate_dataset

    t0 = time.time()
    f = simulate_dataset("seed004_tomo", root / f"snr{snr}", n_per_class=n, box=box, snr=snr, seed=seed, progress=False)
    t_sim = time.time() - t0
    ds = VolumeDataset.from_folder(f)
    meta = json.loads((f / "dataset.json").read_text())["meta"]
    refs = torch.from_numpy(np.load(f / "references.npy")) * meta["contrast"]
    y, R, t = ds.labels.numpy(), ds.rotations, ds.shifts
    vs, mwa = float(ds.table.voxel_size.iloc[0]), float(ds.table.mwa.mean())
    out = dict(preset="seed004_tomo", n_per_class=n, box=box, snr=snr, seed=seed, voxel_size=vs, mean_mwa=mwa,
               simulate_s=round(t_sim, 1))
    for name, wedge in (("weighted", "auto"), ("global_wedge", mwa)):
        t0 = time.time()
        auc = auc_fsc(class_averages(ds, y, R, t, wedge=wedge)[0], refs).numpy()
        out[f"{name}_s"] = round(time.time() - t0, 1)
        hs = half_set_fsc(ds, y, R, t, wedge=wedge, voxel_size=vs, seed=seed)
        out[f"{name}_auc_fsc"] = [round(float(a), 4) for a in auc]
        out[f"{name}_auc_fsc_mean"] = round(float(auc.mean()), 4)
        out[f"{name}_half_set_resolution_A"] = [round(float(r), 1) for r in hs["resolution_A"]]
        out[f"{name}_half_set_resolution_cycles"] = [round(float(r), 4) for r in hs["resolution"]]
    info = json.loads((f / "dataset.json").read_text())
    out["classes"] = [c["name"] for c in sorted(info["classes"], key=lambda c: c["label"])]
    return out


def averages(args):
    import torch

    rows = []
    with tempfile.TemporaryDirectory(dir=args.root) as d:
        for snr in args.snr:
            r = averages_case(Path(d), args.n_per_class, args.box, snr, args.seed)
            r.update(torch=torch.__version__, threads=torch.get_num_threads(), machine=platform.machine())
            print(json.dumps(r), flush=True)
            rows.append(r)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("averages", help="weighted vs global-wedge class averages with true poses")
    a.add_argument("--n-per-class", type=int, default=150)
    a.add_argument("--box", type=int, default=32)
    a.add_argument("--snr", type=float, nargs="+", default=[0.1, 0.01])
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--root", default=None, help="folder for the temporary data sets (default: the system's)")
    a.add_argument("--out", default="benchmarks/results/bench_weights_averages.json")
    args = p.parse_args()
    {"averages": averages}[args.command](args)


if __name__ == "__main__":
    main()
