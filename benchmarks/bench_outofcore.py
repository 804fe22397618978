"""Out-of-core training: a data set larger than a memory budget trains one epoch streaming from its memory-mapped
`volumes.npy` with bounded RSS, at (nearly) the speed of an in-RAM set.

    nice -n 10 python benchmarks/bench_outofcore.py [--root runs/ooc] [--gb 8] [--box 48] [--batch 64]
        [--train-particles 512] [--channels 4] [--threads 2] [--cases scan,scan_old,stream,ram] [--keep]

1. Writes `--gb` GB of float32 particles (`--box`³) through `cryo_disent.data.writer.open_dataset_writer` under `--root`
   (refuses when the disk has less than 1.2 × that free; the folder is deleted at the end unless `--keep`).
2. In a fresh child process each (so every peak is its own; `--cases` picks them):
   - `scan`: `data_fingerprint` (the SHA-256 + finiteness scan `cryo-disent train` does first) over the whole set, then
     one pass over the whole set through the Trainer's loader (`loaders.make_loader`, batch `--batch`, shuffled) — the
     data path of an epoch without the model's arithmetic;
   - `scan_old`: the same loader pass through the former read path (slicing the memmap, `np.array(volumes[j])`);
   - `stream`: one training epoch of `beta_vae` (small widths: the measurement is about I/O) with the `Trainer` on
     `--train-particles` particles read from the memmap (`VolumeDataset.from_folder(indices=...)`), no validation;
   - `ram`: the same epoch on the same particles copied into an in-memory array first (the in-RAM case).
   Each child reports its peak resident set (`VmHWM` = `ru_maxrss`: anonymous memory AND file-backed pages mapped
   into the process; the page cache of files read with `read()` is not in it) and, at the end, `RssAnon`/`RssFile`.
   Throughput = particles ÷ the epoch's `time_s` in `metrics.jsonl` (the epoch loop only), and particles ÷ the
   child's CPU seconds over `fit` (`particles_per_cpu_s`: the rate with the cores to itself — on a shared machine the
   wall-clock rate mostly measures the other users' load; I/O waits do not count as CPU time, so compare both).
Prints one JSON line per case and a markdown row.
"""
import argparse, json, os, platform, resource, shutil, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np


def status_kb(*keys) -> dict:
    "Fields of /proc/self/status in MB."
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in keys: out[k] = round(int(v.split()[0]) / 1024, 1)
    return out


def child(args):
    import torch
    from cryo_disent.data import datasets as D
    from cryo_disent.data.loaders import make_loader
    from cryo_disent.core import seed_everything
    from cryo_disent.models.registry import get_model_class
    from cryo_disent.training.train import Trainer
    torch.set_num_threads(args.threads)
    folder = Path(args.root) / "set"
    extra = {}
    if args.child in ("scan", "scan_old"):
        if args.child == "scan_old": D.read_particle = lambda vol, j: np.array(vol[j])  # the former path
        ds = D.VolumeDataset.from_folder(folder)
        t0 = time.time()
        if args.child == "scan": D.data_fingerprint(ds)
        extra["fingerprint_s"] = round(time.time() - t0, 1)
        t0, c0 = time.time(), time.process_time()
        for _ in make_loader(ds, args.batch, shuffle=True, seed=0): pass
        st = status_kb("VmHWM", "RssAnon", "RssFile")
        print("RESULT " + json.dumps(dict(case=args.child, particles=len(ds), GB=round(len(ds) * np.prod(ds.shape) * 4 / 2 ** 30, 2),
                                          loader_s=round(time.time() - t0, 1), loader_cpu_s=round(time.process_time() - c0, 1),
                                          peak_rss_MB=st["VmHWM"], end_rss_anon_MB=st["RssAnon"], end_rss_file_MB=st["RssFile"],
                                          **extra)), flush=True)
        return
    idx = np.arange(args.train_particles)
    if args.child == "stream":
        ds = D.VolumeDataset.from_folder(folder, indices=idx)
    else:  # ram: the same particles, copied into memory
        vol = np.load(folder / "volumes.npy", mmap_mode="r")
        ds = D.VolumeDataset(np.array(vol[:args.train_particles]))
        del vol
    cls = get_model_class("beta_vae")
    seed_everything(0)
    model = cls(cls.config_cls(input_shape=(1, *ds.shape), channels=tuple(int(c) for c in args.channels.split(","))))
    out = Path(args.root) / f"run_{args.child}"
    shutil.rmtree(out, ignore_errors=True)
    c0 = time.process_time()
    Trainer(model, ds, None, out_dir=out, epochs=1, batch_size=args.batch, progress=False, device="cpu").fit()
    cpu_s = time.process_time() - c0
    rec = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    st = status_kb("VmHWM", "RssAnon", "RssFile")
    print("RESULT " + json.dumps(dict(case=args.child, particles=len(ds), epoch_s=rec["time_s"],
                                      particles_per_s=round(len(ds) / rec["time_s"], 1),
                                      particles_per_cpu_s=round(len(ds) / cpu_s, 1), peak_rss_MB=st["VmHWM"],
                                      end_rss_anon_MB=st["RssAnon"], end_rss_file_MB=st["RssFile"], **extra)), flush=True)


def write_set(folder: Path, gb: float, box: int) -> int:
    from cryo_disent.data.writer import open_dataset_writer
    per = box ** 3 * 4
    n = int(gb * 2 ** 30 // per)
    if (folder / "dataset.json").exists() and json.loads((folder / "dataset.json").read_text())["count"] == n:
        return n, 0.0  # kept from an earlier run (--keep)
    rng = np.random.default_rng(0)
    base = rng.standard_normal((256, box, box, box), dtype=np.float32)  # particles differ by chunk offset and noise block
    t0 = time.time()
    with open_dataset_writer(folder, (box,) * 3, n, overwrite=True, source="bench_outofcore") as w:
        for i in range(0, n, 256):
            k = min(256, n - i)
            w.append(base[:k] + np.float32(i % 7) * 0.01)
    return n, round(time.time() - t0, 1)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--root", default="runs/ooc")
    p.add_argument("--gb", type=float, default=8.0)
    p.add_argument("--box", type=int, default=48)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--train-particles", type=int, default=512)
    p.add_argument("--channels", default="4")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--keep", action="store_true")
    p.add_argument("--cases", default="scan,scan_old,stream,ram")
    p.add_argument("--child", default=None)
    args = p.parse_args()
    if args.child: return child(args)
    root = Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(root).free / 2 ** 30
    if free < 1.2 * args.gb: sys.exit(f"{root}: {free:.1f} GB free, need {1.2 * args.gb:.1f} GB for a {args.gb} GB set")
    folder = root / "set"
    try:
        n, write_s = write_set(folder, args.gb, args.box)
        size = (folder / "volumes.npy").stat().st_size / 2 ** 30
        print(json.dumps(dict(wrote=str(folder), particles=n, GB=round(size, 2), write_s=write_s)), flush=True)
        res = {}
        for case in args.cases.split(","):
            cmd = [sys.executable, __file__, "--child", case] + [a for a in sys.argv[1:]]
            r = subprocess.run(cmd, capture_output=True, text=True)
            line = [l for l in r.stdout.splitlines() if l.startswith("RESULT ")]
            if r.returncode or not line: sys.exit(f"{case} failed:\n{r.stderr[-3000:]}")
            res[case] = json.loads(line[0][7:])
            print(json.dumps(res[case]), flush=True)
        if {"scan", "stream", "ram"} <= set(res):
            sc, s_, m = res["scan"], res["stream"], res["ram"]
            old = res.get("scan_old")
            print(f"| {time.strftime('%Y-%m-%d')} | {platform.machine()}, {os.cpu_count()} cores, "
                  f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2 ** 30:.0f} GB RAM, load avg {os.getloadavg()[0]:.0f} | "
                  f"{n} × {args.box}³ ({size:.1f} GB) | {sc['peak_rss_MB'] / 1024:.2f} GB (scan {sc['fingerprint_s']} s + loader "
                  f"{sc['loader_s']} s) | " + (f"{old['peak_rss_MB'] / 1024:.2f} GB" if old else "—") +
                  f" | {s_['particles_per_cpu_s']} vs {m['particles_per_cpu_s']} /CPU-s "
                  f"({100 * s_['particles_per_cpu_s'] / m['particles_per_cpu_s']:.0f} %); wall {s_['particles_per_s']} vs "
                  f"{m['particles_per_s']} /s | {s_['peak_rss_MB'] / 1024:.2f} GB |")
    finally:
        if not args.keep: shutil.rmtree(folder, ignore_errors=True)
        for case in ("stream", "ram"): shutil.rmtree(root / f"run_{case}", ignore_errors=True)


if __name__ == "__main__":
    main()
