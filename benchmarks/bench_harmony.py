"""Cost of multi-choice learning: a harmony3d_mcl training step (N candidates) vs a harmony3d step, same batch and box.

    python benchmarks/bench_harmony.py [--box 32] [--batch-size 32] [--candidates 96] [--steps 7] [--threads 2]
                                       [--search-size 9] [--lowpass 0.25] [--device cpu]

Both models are built once (default configs except the box), their full optimisation steps (forward, loss, backward,
Adam) are interleaved (harmony, mcl, harmony, mcl, ...; `timing.time_interleaved`) after one warm-up step each, and the
median step time of each is reported; the ratio is mcl / harmony seconds per step (target <= 1.25). One JSON line.
"""
import argparse, json, platform
import torch
from cryo_disent.core import get_device, seed_everything
from cryo_disent.models.base import StepContext
from cryo_disent.models.registry import get_model_class
from cryo_disent.training.testing import make_batch
from timing import time_interleaved


def build(name, box, device, **over):
    cls = get_model_class(name)
    seed_everything(0)
    model = cls(cls.config_cls(input_shape=(1, box, box, box), **over)).to(device).train()
    ctx = StepContext(forward=model, backward=lambda l: l.backward(), optimizers=model.configure_optimizers(), epoch=0)
    return model, ctx


def main(box, batch_size, candidates, steps, threads, search_size, device, lowpass=0.25):
    torch.set_num_threads(threads)
    h, hctx = build("harmony3d", box, device, lowpass=lowpass)
    m, mctx = build("harmony3d_mcl", box, device, mcl_candidates=candidates, mcl_search_size=search_size, lowpass=lowpass)
    batch = {k: v.to(device) for k, v in make_batch(h.config, batch_size).items()}
    t = time_interleaved({"h": lambda: h.training_step(batch, hctx), "m": lambda: m.training_step(batch, mctx)},
                         n=steps, warmup=1, device=device)
    sh, sm = t["h"]["median_s"], t["m"]["median_s"]
    return dict(box=box, work_box=h.n_work, lowpass=lowpass, batch_size=batch_size, candidates=candidates, search_size=search_size, steps=steps,
                harmony3d_samples_per_s=round(batch_size / sh, 2), harmony3d_mcl_samples_per_s=round(batch_size / sm, 2),
                ratio_mcl_over_harmony=round(sm / sh, 3), threads=torch.get_num_threads(), device=str(device),
                torch=torch.__version__, machine=platform.processor() or platform.machine())


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--box", type=int, default=32); p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--candidates", type=int, default=96); p.add_argument("--steps", type=int, default=7)
    p.add_argument("--threads", type=int, default=2); p.add_argument("--search-size", type=int, default=9)
    p.add_argument("--device", default="cpu")
    p.add_argument("--lowpass", type=float, default=0.25, help="the models' input cut-off (cycles/voxel); sets their work box")
    a = p.parse_args()
    print(json.dumps(main(a.box, a.batch_size, a.candidates, a.steps, a.threads, a.search_size, get_device(a.device), a.lowpass)))
