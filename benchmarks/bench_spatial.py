"""Peak memory and training throughput of the 3D Spatial-VAE family at the paper's sizes.

    python benchmarks/bench_spatial.py [--box 28] [--batch-size 128] [--steps 1] [--threads 2]
        [--models vae3d_mlp,spatial_vae3d,spatial_vae3d_cnn] [--set decoder_hidden=1250 ...]

Each model runs in its own subprocess (so the peak resident memory, `ru_maxrss`, is that model's alone): the paper's
config (Tables 3–5: z 50, encoder 1000, generator 1250; `--set key=value` overrides), one warm-up training step
(forward, loss, backward, Adam), then `--steps` timed steps (`--steps 0`: the warm-up step is the timed one, for
models whose step takes minutes here; `timing.time_steps`, median over the steps). FLOPs of one step are counted with
`torch.utils.flop_counter.FlopCounterMode` on the warm-up step (matrix products and convolutions; the checkpointed
chunks' recomputation is counted too). Prints one JSON line per model, then a markdown table.
"""
import argparse, json, resource, subprocess, sys


def run_one(name: str, box: int, batch: int, steps: int, threads: int, sets: dict) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from cryo_disent.core import seed_everything
    from cryo_disent.models.registry import get_model_class
    from cryo_disent.models.base import StepContext
    from timing import time_steps  # benchmarks/timing.py (this script's folder is on sys.path)
    torch.set_num_threads(threads)
    seed_everything(0)
    cls = get_model_class(name)
    model = cls(cls.config_cls(input_shape=(1, box, box, box), **sets))
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    batch_d = dict(x=torch.randn(batch, 1, box, box, box))
    opts = model.configure_optimizers()
    ctx = StepContext(forward=model, backward=lambda l: l.backward(), optimizers=opts)
    step = lambda: model.training_step(batch_d, ctx)  # noqa: E731
    fc = FlopCounterMode(display=False)

    def counted():  # the warm-up step, its FLOPs counted
        with fc: step()
    if steps == 0:  # --steps 0: time the (counted) warm-up step itself
        timing = time_steps(counted, n=1, warmup=0)
    else:
        counted()
        timing = time_steps(step, n=steps, warmup=0)
    t = timing["median_s"]
    flops = fc.get_total_flops()
    return dict(model=name, box=box, batch=batch, threads=threads, config=sets,
                params_M=round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
                step_s=round(t, 2), samples_per_s=round(batch / t, 2), gflop_per_step=round(flops / 1e9, 1),
                gflop_per_s=round(flops / t / 1e9, 1), peak_rss_gib=round(timing["peak_rss_bytes"] / 2**30, 2),
                rss_after_build_gib=round(base_rss, 2), torch=torch.__version__)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--box", type=int, default=28)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--models", default="vae3d_mlp,spatial_vae3d,spatial_vae3d_cnn")
    p.add_argument("--set", nargs="*", default=[], help="config overrides key=value (ints/floats)")
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # internal: run one model in this process
    a = p.parse_args()
    sets = {k: json.loads(v) for k, v in (s.split("=", 1) for s in a.set)}
    if a.one:
        print(json.dumps(run_one(a.models, a.box, a.batch_size, a.steps, a.threads, sets)))
        return
    rows = []
    for name in a.models.split(","):
        cmd = [sys.executable, __file__, "--one", "--models", name, "--box", str(a.box), "--batch-size", str(a.batch_size),
               "--steps", str(a.steps), "--threads", str(a.threads), "--set", *a.set]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print(f"{name}: failed\n{r.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    print("\n| model | box | batch | params (M) | step (s) | samples/s | GFLOP/step | GFLOP/s | peak RSS (GiB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['box']} | {r['batch']} | {r['params_M']} | {r['step_s']} | {r['samples_per_s']} | "
              f"{r['gflop_per_step']} | {r['gflop_per_s']} | {r['peak_rss_gib']} |")


if __name__ == "__main__":
    main()
