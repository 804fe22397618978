"""Training throughput of every registered model: particles per second for full optimisation steps.

    python benchmarks/bench_train.py [--box 32] [--batch-size 32] [--steps 10] [--device auto]

Prints one JSON line per model (machine, torch version, threads, box, batch size, particles/s).
"""
import argparse, json, platform, time
import torch
from cryo_disent.core import get_device, seed_everything
from cryo_disent.models.registry import get_model_class, model_names
from cryo_disent.models.base import StepContext
from cryo_disent.testing import make_batch


def bench(name, box, batch_size, steps, device):
    cls = get_model_class(name)
    seed_everything(0)
    model = cls(cls.config_cls(input_shape=(1, box, box, box))).to(device)
    batch = {k: v.to(device) for k, v in make_batch(model.config, batch_size).items()}
    ctx = StepContext(forward=model, backward=lambda l: l.backward(), optimizers=model.configure_optimizers())
    model.training_step(batch, ctx)  # warm-up
    if device.type == "cuda": torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps): model.training_step(batch, ctx)
    if device.type == "cuda": torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    return dict(model=name, box=box, batch_size=batch_size, steps=steps, particles_per_s=round(steps * batch_size / dt, 1),
                device=str(device), threads=torch.get_num_threads(), torch=torch.__version__, machine=platform.processor() or platform.machine())


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--box", type=int, default=32); p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=10); p.add_argument("--device", default="auto")
    a = p.parse_args()
    for n in model_names():
        print(json.dumps(bench(n, a.box, a.batch_size, a.steps, get_device(a.device))))
