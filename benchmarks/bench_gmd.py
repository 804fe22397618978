"""Memory and speed of the Gaussian-mixture decoder (`cryo_disent.models.gmd`, famili2024 §3.3) at 32³, M = 1024, batch 64.

    python benchmarks/bench_gmd.py [--box 32] [--batch-size 64] [--n-gaussians 1024] [--latent-dim 8]
        [--threads 2] [--steps 5] [--sigma-max 1.5] [--truncate 3] [--no-recompute] [--max-elements 8388608]
        [--dense] [--device cpu]
    python benchmarks/bench_gmd.py --fit 300 [--box 32] [--n-gaussians 1024] [--structures a,b,...]

One step = decoder forward (MLP → M anisotropic Gaussians → rotation by a random 4D axis-angle pose → windowed
rendering, eq. 4) + MSE against a random target + backward (gradients to the decoder's parameters, z and the pose).
After one warm-up step, `--steps` steps are timed (`timing.time_steps`); the median gives samples/s, and
`samples_per_cpu_s` = batch × threads ÷ median process CPU seconds per step (less sensitive to other processes on a
shared machine). Peak memory: the process's maximum resident set size (`resource.getrusage`) minus its value before the
first step (CPU), or `torch.cuda.max_memory_allocated` (GPU). Run each variant in its own process (the RSS peak never
goes down).
`--dense` times the brute-force renderer (every Gaussian at every voxel) instead, for comparison (use a small batch:
it holds B·N³·M floats per tensor). Prints one JSON line.

`--fit STEPS` asks instead whether the decoder can *represent* real structures: the clean density maps of the
`seed004` structures (box `--box`, one voxel size for all, 2.5-voxel resolution, standardised) are fitted by one
decoder with z = the one-hot class (latent size = number of structures), canonical pose, MSE, Adam (lr 3e-3), STEPS
full-batch steps; then reported: the Pearson correlation of each decoded map with its target, the same at 3 random
poses (decoder pose vs `density_map` of the rotated structure: the rotation is explicit, so no loss is expected),
the number of Gaussians left on (φ = 1) and the time.
"""
import argparse, json, platform, time
import torch
from cryo_disent.core import seed_everything
from cryo_disent.models.gmd import GaussianMixtureDecoder, render_gaussians_dense, window_offsets
from timing import time_steps


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--box", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--n-gaussians", type=int, default=1024)
    p.add_argument("--latent-dim", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=5, help="timed steps")
    p.add_argument("--sigma-max", type=float, default=1.5)
    p.add_argument("--truncate", type=float, default=3.0)
    p.add_argument("--max-elements", type=int, default=2**23)
    p.add_argument("--no-recompute", action="store_true", help="keep every chunk's activations (no checkpointing)")
    p.add_argument("--dense", action="store_true", help="brute-force renderer instead of the windowed one")
    p.add_argument("--device", default="cpu")
    p.add_argument("--fit", type=int, default=0, help="fit STEPS steps to the seed004 structures' maps instead")
    p.add_argument("--structures", default="6ZU5_80S_ribosome,4V8R_TRiC_one,2GTL_erythrocruorin_full,4V1W_apoferritin")
    a = p.parse_args(argv)
    if a.fit: return fit(a)
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

    t = time_steps(step, n=a.steps, warmup=1, device=dev)
    peak = t["peak_mem_bytes"]
    K = len(window_offsets(3, a.truncate * a.sigma_max + 3 ** 0.5 / 2))
    out = dict(box=a.box, batch=a.batch_size, M=a.n_gaussians, threads=a.threads, device=a.device,
               renderer="dense" if a.dense else ("windowed" + ("" if a.no_recompute else "+checkpoint")),
               window_voxels=None if a.dense else K, sigma_max=a.sigma_max, truncate=a.truncate,
               median_step_s=round(t["median_s"], 3), samples_per_s=round(a.batch_size / t["median_s"], 2),
               samples_per_cpu_s=round(a.batch_size * a.threads / t["cpu_median_s"], 2),
               peak_mem_mb=round(peak / 2**20), dense_one_tensor_mb=round(a.batch_size * a.box ** 3 * a.n_gaussians * 4 / 2**20),
               torch=torch.__version__, machine=platform.processor() or platform.machine())
    print(json.dumps(out))


def _standardise(v): return (v - v.mean(dim=(-3, -2, -1), keepdim=True)) / v.std(dim=(-3, -2, -1), keepdim=True)


def _corr(a, b):
    a, b = a.flatten(1) - a.flatten(1).mean(1, keepdim=True), b.flatten(1) - b.flatten(1).mean(1, keepdim=True)
    return ((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))).tolist()


def fit(a):
    "Fit the decoder to the structures' maps (z = one-hot class), then score at the canonical and at random poses."
    from cryo_disent.physics.density import density_map
    from cryo_disent.physics.geometry import matrix_to_axis_angle, random_rotations
    torch.set_num_threads(a.threads)
    seed_everything(0)
    names = a.structures.split(",")
    vs = _voxel_size(names, a.box)
    res = 2.5 * vs
    maps = torch.stack([density_map(n, a.box, vs, resolution=res) for n in names])[:, None]
    target = _standardise(maps)
    K = len(names)
    dec = GaussianMixtureDecoder((a.box,) * 3, K, pose_dims=4, n_gaussians=a.n_gaussians,
                                 sigma_range=(min(0.5, a.sigma_max), a.sigma_max), truncate=a.truncate)
    z, pose0 = torch.eye(K), torch.zeros(K, 4)
    opt = torch.optim.Adam(dec.parameters(), lr=3e-3)
    t0 = time.perf_counter()
    for i in range(a.fit):
        opt.zero_grad()
        loss = (dec(z, pose0) - target).pow(2).mean()
        loss.backward()
        opt.step()
    wall = time.perf_counter() - t0
    R = random_rotations(3, generator=torch.Generator().manual_seed(1))
    aa = matrix_to_axis_angle(R)
    theta = aa.norm(dim=-1, keepdim=True)
    with torch.no_grad():
        canon = _corr(dec(z, pose0), target)
        posed = []
        for j in range(3):
            pose = torch.cat([theta[j], aa[j] / theta[j]])[None].expand(K, 4)
            tgt = _standardise(torch.stack([density_map(n, a.box, vs, resolution=res, R=R[j]) for n in names])[:, None])
            posed.append(_corr(dec(z, pose), tgt))
        on = dec.gaussians(z)["phi"].sum(1).tolist()
    out = dict(box=a.box, voxel_size_A=round(vs, 2), resolution_A=round(res, 1), M=a.n_gaussians, steps=a.fit,
               final_mse=round(loss.item(), 4), structures=names, corr_canonical=[round(c, 3) for c in canon],
               corr_posed_mean=[round(sum(c) / 3, 3) for c in zip(*posed)], gaussians_on=on, fit_wall_s=round(wall, 1),
               threads=a.threads, torch=torch.__version__)
    print(json.dumps(out))


def _voxel_size(names, box):
    "One voxel size for all: the largest structure's extent fills 90 % of the box."
    from cryo_disent.physics.structures import structures
    t = structures().set_index("name")
    return float(2 * t.loc[names, "r_max_A"].max() / (0.9 * box))


if __name__ == "__main__":
    main()
