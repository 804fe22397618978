"""Harmony3D training step against the public reference implementation's siamese step (target: ≥ 1.5×).

    python benchmarks/bench_harmony_ref.py --reference /path/to/aitom/.../harmony/model3D --kornia /path/to/kornia/site \
        [--box 32] [--batch-size 64] [--threads 2] [--steps 5] [--latent-dim 8] [--models harmony3d,harmony3d_mcl]
        [--config '{"lowpass": 0.1259}']

The reference (xulabs/aitom, `aitom/classify/deep/unsupervised/disentangled_representation/harmony/model3D`) is imported
from a checkout outside this repository (`--reference`: the folder holding its `model.py` and `utils.py`); it needs
kornia, whose `get_affine_matrix3d` / `warp_affine3d` now live in `kornia.geometry.transform` (aliased here at import).
Its step = `Siamese(latent_dims, pixel)` forward + its own `utils.loss_fn` + backward + Adam, as its `train.py` does.
Ours = one `training_step` of the registered model at its default config. Steps are interleaved (every variant runs
one step in turn, `timing.time_interleaved`), median over `--steps`; prints JSON lines and a markdown table.
"""
import argparse, importlib, json, os, sys, types
from pathlib import Path
import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_train import cpu_model, model_step  # noqa: E402
from timing import time_interleaved  # noqa: E402


def reference_step(folder: str, box: int, batch_size: int, latent_dim: int):
    "One training step of the reference's Siamese network with its loss (w = 1)."
    import kornia
    import kornia.geometry.transform as T
    kornia.get_affine_matrix3d, kornia.warp_affine3d = T.get_affine_matrix3d, T.warp_affine3d  # moved in kornia ≥ 0.6
    try:
        import matplotlib.pyplot  # noqa: F401  (its utils.py imports it for loss plots we do not draw)
    except ImportError:
        plt = types.ModuleType("matplotlib.pyplot")
        sys.modules["matplotlib"] = types.ModuleType("matplotlib")
        sys.modules["matplotlib.pyplot"] = plt
    folder = Path(folder).resolve()
    sys.path.insert(0, str(folder.parent))  # its utils.py imports `.model`: load the folder as a package
    model = importlib.import_module(f"{folder.name}.model")
    utils = importlib.import_module(f"{folder.name}.utils")
    torch.manual_seed(0)
    net, opt = model.get_instance_model_optimizer(torch.device("cpu"), learning_rate=1e-4, z_dims=latent_dim, pixel=box)
    x = torch.randn(batch_size, 1, box, box, box)

    def step():
        out = net(x)
        loss = utils.loss_fn(*out, latent_dim, 1)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reference", required=True, help="aitom's harmony/model3D folder (holding model.py, utils.py)")
    p.add_argument("--kornia", default=None, help="extra sys.path entry where kornia is installed (not a project dependency)")
    p.add_argument("--box", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=5, help="timed steps of each variant")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--latent-dim", type=int, default=8)
    p.add_argument("--models", default="harmony3d")
    p.add_argument("--config", default="{}", help="JSON config overrides for our models, e.g. '{\"lowpass\": 0.1259}'")
    a = p.parse_args(argv)
    if a.kornia: sys.path.insert(0, a.kornia)
    torch.set_num_threads(a.threads)
    over = json.loads(a.config)
    steps = {n: model_step(n, a.box, a.batch_size, None, a.latent_dim, overrides=over) for n in a.models.split(",")}
    steps["aitom harmony (reference)"] = reference_step(a.reference, a.box, a.batch_size, a.latent_dim)
    t = {k: (v["median_s"], v["cpu_median_s"]) for k, v in time_interleaved(steps, a.steps, a.warmup).items()}
    print(json.dumps(dict(cpu=cpu_model(), threads=a.threads, torch=torch.__version__, load_1min=os.getloadavg()[0],
                          box=a.box, batch_size=a.batch_size, latent_dim=a.latent_dim, config=over)))
    ref_wall, ref_cpu = t["aitom harmony (reference)"]
    print("| step | samples/s | samples/s (CPU time) | vs reference (wall) | vs reference (CPU time) |")
    print("|---|---|---|---|---|")
    for k, (wall, cpu) in t.items():
        print(f"| {k} | {a.batch_size / wall:.1f} | {a.batch_size * a.threads / cpu:.1f} | {ref_wall / wall:.2f}× | {ref_cpu / cpu:.2f}× |")


if __name__ == "__main__":
    main()
