"""Subtomogram simulation throughput (subtomograms/s) and the fast path's accuracy against the exact one.

    python benchmarks/bench_simulate.py [--preset seed004] [--box 32] [--n 2048] [--batch-size 128] [--threads 2]
                                        [--snr 0.01] [--mwa 30] [--oversample 3] [--device cpu] [--write]

Measures, for the preset's classes at `--box`:
  - template time: the one-off exact spectra of every class on the oversampled grid (`FourierTemplate`);
  - render rate: `Simulator.render` of `--n` particles in batches (pose, CTF, wedge, noise, preprocessing), templates built;
  - with `--write`, the end-to-end rate of `simulate_dataset` into a temporary folder (memmap + STAR), templates cached;
  - the exact path's rate (`oversample=None`, sum over the rotated pseudo-atoms) on a few particles, and the fast path's
    relative L2 error / minimum correlation against it on the same noise-free particles.
Times are wall seconds of `timing.time_call` (the device synchronised before and after). Prints one JSON line.
"""
import argparse, json, math, platform, tempfile
from datetime import date

import torch

from cryo_disent.physics.simulate import Simulator, simulate_dataset
from timing import time_call


def bench(preset, box, n, batch_size, snr, mwa, oversample, device, write, n_exact=8):
    kw = dict(box=box, snr=snr, mwa=mwa, oversample=oversample)
    sim = Simulator(preset, device, n_per_class=math.ceil(n / 4), seed=0, **kw)  # seed004 has 4 classes
    n = min(n, len(sim))
    def templates():
        for c in range(len(sim.classes)): sim.template(c)

    def render_all():  # each batch dropped as soon as it is made
        for a in range(0, n, batch_size): sim.render(range(a, min(a + batch_size, n)))
    _, t_templates = time_call(templates, sim.device)
    _, t_render = time_call(render_all, sim.device)
    rate = n / t_render
    out = dict(preset=preset, box=box, n=n, batch_size=batch_size, snr=snr, mwa=mwa, oversample=oversample,
               voxel_size=float(sim.classes.voxel_size[0]), template_s=round(t_templates, 2), subtomos_per_s=round(rate, 1))
    if write:
        with tempfile.TemporaryDirectory() as d:
            _, t_write = time_call(lambda: simulate_dataset(preset, f"{d}/ds", n_per_class=math.ceil(n / 4), seed=0,
                                                            batch_size=batch_size, progress=False, device=device, **kw),
                                   sim.device)
            out["write_subtomos_per_s"] = round(4 * math.ceil(n / 4) / t_write, 1)
    # exact path on a few noise-free particles, and the fast path's error against it
    clean = dict(box=box, snr=math.inf, mwa=0.0, ctf=None, standardize=False, mask=False, lowpass_output=None)
    ex = Simulator(preset, device, n_per_class=math.ceil(n_exact / 4), seed=1, oversample=None, **clean)
    fa = Simulator(preset, device, n_per_class=math.ceil(n_exact / 4), seed=1, oversample=oversample, **clean)
    (xe, _), t_exact = time_call(lambda: ex.render(range(len(ex))), ex.device)
    xf, _ = fa.render(range(len(fa)))
    err = float((xf - xe).norm() / xe.norm())
    corr = min(float(torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1]) for a, b in zip(xf, xe))
    out.update(exact_subtomos_per_s=round(len(ex) / t_exact, 2), fast_rel_error=round(err, 5), fast_min_corr=round(corr, 6),
               device=str(sim.device), threads=torch.get_num_threads(), torch=torch.__version__,
               machine=platform.processor() or platform.machine(), date=str(date.today()))
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="seed004"); p.add_argument("--box", type=int, default=32)
    p.add_argument("--n", type=int, default=2048); p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, default=2); p.add_argument("--snr", type=float, default=0.01)
    p.add_argument("--mwa", type=float, default=30.0); p.add_argument("--oversample", type=int, default=3)
    p.add_argument("--device", default="cpu"); p.add_argument("--write", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    print(json.dumps(bench(a.preset, a.box, a.n, a.batch_size, a.snr, a.mwa, a.oversample, a.device, a.write)))
