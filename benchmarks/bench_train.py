"""Training throughput of every registered model, measured against the machine's own dense-matmul rate.

    python benchmarks/bench_train.py [--box 32] [--batch-size 32] [--steps 7] [--warmup 2] [--threads 2]
        [--channels 64,128,256] [--latent-dim 8] [--formats contiguous,channels_last] [--bf16]
        [--reference /path/to/affinity-vae-checkout] [--models beta_vae]

For each registered model (and each memory format, and bf16 autocast if asked) one full training step
(forward, loss, backward, optimiser step) is counted with `torch.utils.flop_counter.FlopCounterMode` (FLOPs per
sample: convolutions and matrix products; element-wise work is not counted) and timed (`timing.time_interleaved`):
warm-up steps, then `--steps` steps of every variant in turn (interleaved, so load from other processes hits all
variants alike); the median step time gives samples/s. `samples_per_cpu_s` = batch × threads ÷ median process
CPU seconds per step: the rate the step would reach with its threads to itself (less sensitive to a shared machine's
load). Beside it: an fp32 (and bf16) 2048² matmul on the same thread count, so `pct_of_matmul` = achieved GFLOP/s ÷ matmul GFLOP/s is each model's distance to the machine's limit.

`--reference PATH` adds affinity-vae's model "a" (EncoderA/DecoderA, no batch norm, as its defaults) imported from
the checkout at PATH (the folder holding `avae/`), at the same box, channels (capacity = first channel count,
depth = number of stages), latent size and batch, trained with the same β-VAE step (MSE + KL, Adam).
Prints one JSON line per variant, then a markdown table.
"""
import argparse, json, os, platform, subprocess, sys
import torch
from torch.utils.flop_counter import FlopCounterMode
from cryo_disent.core import seed_everything
from cryo_disent.models.registry import get_model_class, model_names
from cryo_disent.models.base import StepContext
from cryo_disent.models.layers import to_memory_format
from cryo_disent.training.testing import make_batch
from timing import time_interleaved, time_steps


def cpu_model() -> str:
    "The CPU's model name from lscpu (falls back to platform.processor())."
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or platform.machine()


def matmul_gflops(n: int = 2048, dtype=torch.float32, reps: int = 7) -> float:
    "Median rate of an n×n @ n×n matmul (2n³ FLOPs) on the current thread count, in GFLOP/s."
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    return 2 * n**3 / time_steps(lambda: a @ b, n=reps, warmup=2)["median_s"] / 1e9


def count_flops(step) -> int:
    "FLOPs of one call of `step()` (forward + backward + optimiser) as counted by FlopCounterMode."
    with FlopCounterMode(display=False) as fc:
        step()
    return fc.get_total_flops()


def model_step(name, box, batch_size, channels=None, latent_dim=None, fmt="contiguous", bf16=False, overrides=None):
    "A closure running one full training step of registered model `name` (its default config, with `overrides`)."
    cls = get_model_class(name)
    seed_everything(0)
    kw = dict(input_shape=(1, box, box, box))
    if channels and "channels" in cls.config_cls.__dataclass_fields__: kw["channels"] = tuple(channels)
    if latent_dim: kw["latent_dim"] = latent_dim
    kw.update(overrides or {})
    model = to_memory_format(cls(cls.config_cls(**kw)), fmt)
    batch = to_memory_format(make_batch(model.config, batch_size), fmt)

    def forward(b, epoch=0):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return model(b, epoch=epoch)
    ctx = StepContext(forward=forward, backward=lambda l: l.backward(), optimizers=model.configure_optimizers())
    return lambda: model.training_step(batch, ctx)


def reference_step(path, box, batch_size, channels, latent_dim, fmt="contiguous", bf16=False):
    "One β-VAE training step of affinity-vae's model 'a' imported from the checkout at `path`."
    sys.path.insert(0, path)
    from avae.encoders.encoders import EncoderA
    from avae.decoders.decoders import DecoderA
    seed_everything(0)
    shape = (box, box, box)
    enc = EncoderA(shape, channels[0], len(channels), latent_dim, 0, bnorm=False)
    dec = DecoderA(shape, channels[0], len(channels), latent_dim, 0, bnorm=False)
    net = to_memory_format(torch.nn.ModuleDict(dict(enc=enc, dec=dec)), fmt)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = to_memory_format(torch.randn(batch_size, 1, *shape), fmt)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            mu, logvar = enc(x)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            x_hat = dec(z, None)
        rec = ((x_hat.float() - x) ** 2).flatten(1).sum(1).mean()
        kl = (-0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(1)).mean()
        (rec + kl).backward()
        opt.step()
    return step


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--box", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=7, help="timed steps of each variant")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--channels", default=None, help="e.g. 64,128,256 (models whose config has `channels`)")
    p.add_argument("--latent-dim", type=int, default=None)
    p.add_argument("--formats", default="contiguous,channels_last")
    p.add_argument("--bf16", action="store_true", help="also time bf16 autocast (CPU)")
    p.add_argument("--models", default=None, help="comma-separated registry names (default: all)")
    p.add_argument("--reference", default=None, help="affinity-vae checkout (folder holding avae/)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    channels = [int(c) for c in a.channels.split(",")] if a.channels else None
    names = a.models.split(",") if a.models else model_names()
    formats = a.formats.split(",")
    precisions = [False, True] if a.bf16 else [False]
    steps = {}
    for n in names:
        for f in formats:
            for b in precisions:
                steps[(n, f, "bf16" if b else "fp32")] = model_step(n, a.box, a.batch_size, channels, a.latent_dim, f, b)
    if a.reference:
        ref_ch = channels or [64, 128, 256]
        for f in formats:
            for b in precisions:
                steps[("affinity-vae a (reference)", f, "bf16" if b else "fp32")] = reference_step(
                    a.reference, a.box, a.batch_size, ref_ch, a.latent_dim or 8, f, b)
    flops = {k: count_flops(s) for k, s in steps.items()}
    mm = {"fp32": matmul_gflops(), "bf16": matmul_gflops(dtype=torch.bfloat16) if a.bf16 else None}
    t = time_interleaved(steps, a.steps, a.warmup)
    secs = {k: (v["median_s"], v["cpu_median_s"]) for k, v in t.items()}
    machine = dict(cpu=cpu_model(), cores=os.cpu_count(), threads=torch.get_num_threads(), torch=torch.__version__,
                   load_1min=round(os.getloadavg()[0], 2), matmul_fp32_gflops=round(mm["fp32"], 1),
                   matmul_bf16_gflops=mm["bf16"] and round(mm["bf16"], 1))
    print(json.dumps(machine))
    rows = []
    for (n, f, prec), (wall, cpu) in secs.items():
        fl = flops[(n, f, prec)]
        r = dict(model=n, format=f, precision=prec, box=a.box, batch_size=a.batch_size, channels=channels,
                 samples_per_s=round(a.batch_size / wall, 1), samples_per_cpu_s=round(a.batch_size * a.threads / cpu, 1),
                 gflop_per_sample=round(fl / a.batch_size / 1e9, 3), gflops=round(fl / wall / 1e9, 1),
                 pct_of_matmul=round(100 * fl / wall / 1e9 / mm["fp32"], 1))
        print(json.dumps(r))
        rows.append(r)
    print("\n| model | format | precision | samples/s | samples/s (CPU time) | GFLOP/sample | GFLOP/s | % of fp32 matmul |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['format']} | {r['precision']} | {r['samples_per_s']} | {r['samples_per_cpu_s']} "
              f"| {r['gflop_per_sample']} | {r['gflops']} | {r['pct_of_matmul']} |")
    return rows


if __name__ == "__main__":
    main()
