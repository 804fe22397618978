"""Memory and speed of the Gaussian-mixture decoder (`cryo_disent.models.gmd`, famili2024 §3.3) at the issue's size.

    python benchmarks/bench_gmd.py [--box 32] [--batch-size 64] [--n-gaussians 1024] [--latent-dim 8]
        [--threads 2] [--rounds 5] [--sigma-max 1.5] [--truncate 3] [--no-recompute] [--max-elements 8388608]
        [--dense] [--device cpu]

One step = decoder forward (MLP → M anisotropic Gaussians → rotation by a random 4D axis-angle pose → windowed
rendering, eq. 4) + MSE against a random target + backward (gradients to the decoder's parameters, z and the pose).
After one warm-up step, `--rounds` steps are timed; the median gives samples/s, and `samples_per_cpu_s` = batch ×
threads ÷ median process CPU seconds per step (less sensitive to other processes on a shared machine). Peak memory:
the process's maximum resident set size (`resource.getrusage`) minus its value before the first step (CPU), or
`torch.cuda.max_memory_allocated` (GPU). Run each variant in its own process (the RSS peak never goes down).
`--dense` times the brute-force renderer (every Gaussian at every voxel) instead, for comparison (use a small batch:
it holds B·N³·M floats per tensor). Prints one JSON line.
"""
import argparse, json, platform, resource, statistics, time
import torch
from cryo_disent.core import seed_everything
from cryo_disent.models.gmd import GaussianMixtureDecoder, render_gaussians_dense, window_offsets


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--box", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--n-gaussians", type=int, default=1024)
    p.add_argument("--latent-dim", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--sigma-max", type=float, default=1.5)
    p.add_argument("--truncate", type=float, default=3.0)
    p.add_argument("--max-elements", type=int, default=2**23)
    p.add_argument("--no-recompute", action="store_true", help="keep every chunk's activations (no checkpointing)")
    p.add_argument("--dense", action="store_true", help="brute-force renderer instead of the windowed one")
    p.add_argument("--device", default="cpu")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    seed_everything(0)
    dev = torch.device(a.device)
    shape = (a.box,) * 3
    dec = GaussianMixtureDecoder(shape, a.latent_dim, pose_dims=4, n_gaussians=a.n_gaussians,
                                 sigma_range=(min(0.5, a.sigma_max), a.sigma_max), truncate=a.truncate,
                                 max_elements=a.max_elements, recompute=not a.no_recompute).to(dev)
    z = torch.randn(a.batch_size, a.latent_dim, device=dev, requires_grad=True)
    pose = torch.randn(a.batch_size, 4, device=dev, requires_grad=True)
    target = torch.randn(a.batch_size, 1, *shape, device=dev)

    def step():
        if a.dense:
            s = dec.splats(z, pose)
            y = render_gaussians_dense(s["centres"], s["precision"], s["weights"], shape)
        else:
            y = dec.density(z, pose)
        loss = (y - target).pow(2).mean()
        loss.backward()
        if dev.type == "cuda": torch.cuda.synchronize()

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if dev.type == "cuda": torch.cuda.reset_peak_memory_stats()
    step()
    walls, cpus = [], []
    for _ in range(a.rounds):
        w0, c0 = time.perf_counter(), time.process_time()
        step()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    peak = (torch.cuda.max_memory_allocated() if dev.type == "cuda"
            else (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) * 1024)
    K = len(window_offsets(3, a.truncate * a.sigma_max + 3 ** 0.5 / 2))
    out = dict(box=a.box, batch=a.batch_size, M=a.n_gaussians, threads=a.threads, device=a.device,
               renderer="dense" if a.dense else ("windowed" + ("" if a.no_recompute else "+checkpoint")),
               window_voxels=None if a.dense else K, sigma_max=a.sigma_max, truncate=a.truncate,
               median_step_s=round(statistics.median(walls), 3), samples_per_s=round(a.batch_size / statistics.median(walls), 2),
               samples_per_cpu_s=round(a.batch_size * a.threads / statistics.median(cpus), 2),
               peak_mem_mb=round(peak / 2**20), dense_one_tensor_mb=round(a.batch_size * a.box ** 3 * a.n_gaussians * 4 / 2**20),
               torch=torch.__version__, machine=platform.processor() or platform.machine())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
