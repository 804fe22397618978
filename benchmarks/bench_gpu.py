"""The GPU benchmarks. `benchmarks/bench_gpu.sh` runs them side by side on a GPU machine (16 cores, one H200); every
result is one JSON line in `OUT/results.jsonl`, written as it is measured.

    python benchmarks/bench_gpu.py smoke OUT                   # every registered model: a step on CUDA vs CPU
    python benchmarks/bench_gpu.py spatial_bench OUT           # Spatial-VAE family: step time and peak GPU memory at 28³, batch 128
    python benchmarks/bench_gpu.py harmony OUT SNR MWA [--n 1000 --box 48 --methods a,b --budget 150,150]
    python benchmarks/bench_gpu.py spatial OUT SNR [--n 400 --box 28 --methods a,b --budget 120,120 --config JSON]
    python benchmarks/bench_gpu.py dualcontrast OUT [--n 150 --seeds 0,1 --epochs 50]
    python benchmarks/bench_gpu.py table RESULTS       # markdown rows of the harmony runs: K by BIC, by ICL, K = 4

`harmony` is `tutorials/06_harmony3d_mcl.ipynb`'s loop for one (SNR, MWA) condition (seed004, K by BIC), trained on the
GPU and embedded there; pose refinement and classification (CPU searches) are left to `--refine` (default 0: done
afterwards on the CPU from `embedding.npz` / `classes.npz`, e.g. with `cryo-disent cluster`). `spatial` is
`tutorials/03_spatial_vae.ipynb`'s scoring for one SNR (seed000), `dualcontrast` tutorial 05's seed004 row.
Epochs follow a time budget per method (seconds): a 2-epoch probe's second epoch (the trainer's `time_s`) measures one
epoch, and the run trains `budget // epoch` epochs (at least 2, at most `--max-epochs`) from scratch.
"""
import argparse, json, math, time, traceback
from pathlib import Path
import numpy as np
import torch


def log(out, **row):
    row = dict(row, time=time.strftime("%H:%M:%S"))
    print(json.dumps(row, default=str), flush=True)
    with open(Path(out) / "results.jsonl", "a") as f: f.write(json.dumps(row, default=str) + "\n")


def train_budgeted(data, run, method, cfg, tc, budget, max_epochs, seed, batch_size):
    "Train `method` for the epochs that fit `budget` seconds, then embed on the GPU: (model, embedding, info dict)."
    from cryo_disent.core import seed_everything
    from cryo_disent.data.datasets import VolumeDataset
    from cryo_disent.analysis.evaluate import embed_dataset
    from cryo_disent.app.pipelines import train_on_folder
    probe = Path(run) / "probe"  # 2 epochs; the trainer logs each epoch's seconds (`time_s`), warm-up in the first
    train_on_folder(data, probe, method, cfg, dict(tc, epochs=2), resume=False)
    per = [json.loads(l)["time_s"] for l in open(probe / "metrics.jsonl") if json.loads(l)["split"] == "train"][-1]
    epochs = max(2, min(max_epochs, int(budget / per)))
    seed_everything(seed)
    t0 = time.perf_counter()
    m = train_on_folder(data, run, method, cfg, dict(tc, epochs=epochs), resume=False)
    t1 = time.perf_counter()
    emb = embed_dataset(m, VolumeDataset.from_folder(data), batch_size=batch_size, device="auto")
    info = dict(epochs=epochs, epoch_s=round(per, 2), train_s=round(t1 - t0, 1), embed_s=round(time.perf_counter() - t1, 1))
    return m.cpu(), emb, info


def harmony(a):
    from cryo_disent.app.pipelines import _save_npz, cluster_run
    from cryo_disent.physics.simulate import simulate_dataset
    out = Path(a.out)
    cond = f"snr{a.snr:g}_mwa{a.mwa:g}"
    data = out / "data" / cond
    t0 = time.perf_counter()
    simulate_dataset("seed004", data, n_per_class=a.n, box=a.box, snr=a.snr, mwa=a.mwa, seed=a.seed, overwrite=True, progress=False)
    log(out, stage="simulate", cond=cond, n=4 * a.n, box=a.box, seconds=round(time.perf_counter() - t0, 1))
    for method, budget in zip(a.methods.split(","), a.budget):
        run = out / "runs" / cond / method
        cfg = dict(latent_dim=8)
        tc = dict(batch_size=64, seed=a.seed, progress=False, memory_format="contiguous")
        try:
            m, emb, info = train_budgeted(data, run, method, cfg, tc, budget, a.max_epochs, a.seed, 128)
            _save_npz(run / "embedding.npz", **emb)
            t0 = time.perf_counter()
            met = cluster_run(run, data, m, n_rotations=500, refine=a.refine, classify=a.classify, seed=a.seed)
            keep = ("ari", "accuracy", "sap", "k", "k_chosen_by", "pose_error_classwise_median_deg", "shift_error_median_vox",
                    "template_auc_fsc_mean", "average_auc_fsc_mean", "template_auc_fsc", "average_auc_fsc")
            log(out, stage="harmony", cond=cond, method=method, **info, cluster_s=round(time.perf_counter() - t0, 1),
                **{k: met.get(k) for k in keep})
        except Exception as e:
            log(out, stage="harmony", cond=cond, method=method, error=repr(e), trace=traceback.format_exc()[-1500:])


def spatial(a):
    from cryo_disent.core import to_json
    from cryo_disent.data.datasets import VolumeDataset
    from cryo_disent.analysis.evaluate import evaluate_embedding
    from cryo_disent.models.spatial_vae import dataset_elbo, pose_latent_scores
    from cryo_disent.app.pipelines import class_names
    from cryo_disent.physics.simulate import simulate_dataset
    out = Path(a.out)
    data = out / "data" / f"snr{a.snr:g}"
    simulate_dataset("seed000", data, snr=a.snr, n_per_class=a.n, box=a.box, seed=a.seed, overwrite=True, progress=False)
    ds = VolumeDataset.from_folder(data)
    k = len(class_names(data))
    cfg = json.loads(a.config)
    tc = dict(batch_size=a.batch_size, seed=a.seed, progress=False, mixed_precision=a.precision)
    for method, budget in zip(a.methods.split(","), a.budget):
        run = out / "runs" / f"snr{a.snr:g}" / method
        try:
            m, emb, info = train_budgeted(data, run, method, cfg, tc, budget, a.max_epochs, a.seed, a.batch_size)
            met = evaluate_embedding(emb, k=k, seed=a.seed)
            met.update(dataset_elbo(m, ds, batch_size=a.batch_size, seed=a.seed))
            met.update(pose_latent_scores(emb, seed=a.seed))
            met.update(info)
            (run / "metrics.json").write_text(to_json(met, indent=2))
            keep = ("elbo", "kl", "recon", "sse", "ari", "pose_error_median_deg", "shift_error_median_vox", "shift_abs_r_mean",
                    "d_class_z", "z_predicts_rotation_r2", "z_predicts_shift_r2")
            log(out, stage="spatial", snr=a.snr, method=method, config=cfg, precision=a.precision, **info,
                **{k_: met.get(k_) for k_ in keep})
        except Exception as e:
            log(out, stage="spatial", snr=a.snr, method=method, error=repr(e), trace=traceback.format_exc()[-1500:])


def dualcontrast(a):
    from cryo_disent.core import seed_everything
    from cryo_disent.data.datasets import VolumeDataset
    from cryo_disent.analysis.disentanglement import content_transformation_scores
    from cryo_disent.analysis.evaluate import embed_dataset
    from cryo_disent.physics.fourier import fourier_crop
    from cryo_disent.models.registry import get_model_class
    from cryo_disent.physics.simulate import simulate
    from cryo_disent.training.train import Trainer
    out = Path(a.out)
    for seed in (int(s) for s in a.seeds.split(",")):
        try:
            vols, tab = simulate("seed004", n_per_class=a.n, box=32, snr=0.1, mwa=30.0, seed=seed)  # tutorial 05's data
            vols = fourier_crop(vols[:, 0], 16)[:, None]
            tab = tab.assign(voxel_size=tab.voxel_size * 32 / 16)
            ds = VolumeDataset(vols[:, 0].numpy(), tab)
            classes = tab.drop_duplicates("label").sort_values("label")
            info = dict(shape=list(ds.shape), classes=[dict(label=int(l), name=str(n)) for l, n in zip(classes.label, classes.class_name)],
                        voxel_size=float(tab.voxel_size.iloc[0]), mwa=float(tab.mwa.iloc[0]))
            cls = get_model_class("dualcontrast")
            seed_everything(seed)
            m = cls(cls.config_from_data(info, latent_dim=50, lam=3.0, lr=1e-3))
            t0 = time.perf_counter()
            Trainer(m, ds, None, out_dir=out / "runs" / f"n{a.n}_seed{seed}", epochs=a.epochs, batch_size=32, progress=False,
                    device="auto", seed=seed, memory_format="contiguous").fit()
            train_s = time.perf_counter() - t0
            emb = embed_dataset(m, ds, batch_size=64, device="auto")
            row = content_transformation_scores(emb["content"], emb["transformation"], tab.label.to_numpy(), rotation=ds.rotations.numpy(), seed=seed)
            log(out, stage="dualcontrast", n=len(ds), seed=seed, epochs=a.epochs, train_s=round(train_s, 1),
                **{k: round(float(v), 4) for k, v in row.items()})
        except Exception as e:
            log(out, stage="dualcontrast", seed=seed, error=repr(e), trace=traceback.format_exc()[-1500:])


def smoke(a):
    "Every registered model: eval-mode loss and embedding on CUDA vs CPU (same weights, same batch), and a CUDA training step."
    from cryo_disent.models.base import StepContext
    from cryo_disent.models.registry import get_model_class, model_names
    from cryo_disent.training.testing import make_batch
    for name in model_names():
        cls = get_model_class(name)
        shape = (1, 16, 16, 16) if 3 in cls.supported_ndims else (1, 16, 16)
        try:
            torch.manual_seed(0)
            m = cls(cls.tiny_config(shape)).eval()
            b = make_batch(m.config, 8)
            with torch.no_grad():
                l_cpu = float(m.loss(b, m(b, epoch=0), 0).loss)
                e_cpu = m.embed(b["x"])["content"]
                mc = m.cuda()
                bc = {k: v.cuda() for k, v in b.items()}
                l_gpu = float(mc.loss(bc, mc(bc, epoch=0), 0).loss)
                e_gpu = mc.embed(bc["x"])["content"].cpu()
            mc.train()
            ctx = StepContext(forward=mc, backward=lambda l: l.backward(), optimizers=mc.configure_optimizers(), epoch=0)
            ok = mc.training_step(bc, ctx).is_finite()
            log(a.out, stage="smoke", model=name, loss_cpu=l_cpu, loss_cuda=l_gpu, rel=abs(l_cpu - l_gpu) / max(abs(l_cpu), 1e-12),
                embed_max_abs_diff=float((e_cpu - e_gpu).abs().max()), train_step_finite=bool(ok))
        except Exception as e:
            log(a.out, stage="smoke", model=name, error=repr(e), trace=traceback.format_exc()[-1500:])


def spatial_bench(a):
    "The Spatial-VAE family on the GPU: the paper's configs at 28³, batch 128 (fp32 and bf16 autocast): step time, peak memory."
    from cryo_disent.core import seed_everything
    from cryo_disent.models.base import StepContext
    from cryo_disent.models.registry import get_model_class
    from timing import time_steps  # benchmarks/timing.py
    one_chunk = dict(chunk_elements=2 ** 32)  # the generator in one piece, no checkpointing (fits a GPU's memory)
    for name, prec, sets in [(n, p, {}) for n in ("vae3d_mlp", "spatial_vae3d", "spatial_vae3d_cnn") for p in ("fp32", "bf16")] + \
                            [("spatial_vae3d", p, one_chunk) for p in ("fp32", "bf16")]:
        try:
            seed_everything(0)
            cls = get_model_class(name)
            m = cls(cls.config_cls(input_shape=(1, 28, 28, 28), **sets)).cuda()
            b = dict(x=torch.randn(128, 1, 28, 28, 28, device="cuda"))
            opts = m.configure_optimizers()
            ctx = StepContext(forward=m, backward=lambda l: l.backward(), optimizers=opts)
            def step():
                with torch.autocast("cuda", torch.bfloat16, enabled=prec == "bf16"):
                    m.training_step(b, ctx)
            tm = time_steps(step, n=3, warmup=1, device="cuda")  # median of 3 after a warm-up, peak over all 4
            t = tm["median_s"]
            log(a.out, stage="spatial_bench", model=name, precision=prec, config=sets, batch=128, box=28, step_s=round(t, 4),
                samples_per_s=round(128 / t, 1), peak_gib=round(tm["peak_mem_bytes"] / 2**30, 2),
                gpu=torch.cuda.get_device_name(), torch=torch.__version__)
            del m, opts, ctx, b, step
            torch.cuda.empty_cache()
        except Exception as e:
            log(a.out, stage="spatial_bench", model=name, precision=prec, error=repr(e), trace=traceback.format_exc()[-1500:])


def table(a):
    "Markdown rows of the harmony runs under `a.out` (a results folder brought back): K by BIC (the run's), by ICL and K = 4."
    from cryo_disent.analysis.clustering import choose_k, cluster_latents, hungarian_accuracy
    from sklearn.metrics import adjusted_rand_score
    rows = [json.loads(l) for f in sorted(Path(a.out).glob("*/results.jsonl")) for l in open(f)]
    for r in (r for r in rows if r.get("stage") == "harmony" and "ari" in r):
        e = np.load(Path(a.out) / next(Path(a.out).glob(f"*/runs/{r['cond']}/{r['method']}/embedding.npz")).relative_to(a.out))
        y, c = e["label"], e["content"]
        icl = choose_k(c, (2, 10), reduce="pca", n_components=4, seed=0)["k"]
        got = {k: cluster_latents(c, k, reduce="pca", n_components=4, seed=0) for k in (icl, 4)}
        score = {k: (adjusted_rand_score(y, p), hungarian_accuracy(y, p)[0]) for k, p in got.items()}
        print(f"| {r['cond']} | {r['method']} | {r['epochs']} | {r['epoch_s']:.1f} | {r['k']} | {r['ari']:.3f} | {icl} | "
              f"{score[icl][0]:.3f} / {score[icl][1]:.3f} | {score[4][0]:.3f} / {score[4][1]:.3f} | "
              + ("—" if r["sap"] is None else f"{r['sap']:.2f}") + " | "
              + ("—" if r["pose_error_classwise_median_deg"] is None else f"{r['pose_error_classwise_median_deg']:.0f}°") + " |")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["smoke", "spatial_bench", "harmony", "spatial", "dualcontrast", "table"])
    p.add_argument("out")
    p.add_argument("snr", type=float, nargs="?", default=0.1)
    p.add_argument("mwa", type=float, nargs="?", default=30.0)
    p.add_argument("--n", type=int, default=None, help="particles per class")
    p.add_argument("--box", type=int, default=None)
    p.add_argument("--methods", default=None)
    p.add_argument("--budget", type=lambda s: [float(v) for v in s.split(",")], default=[120.0], help="training seconds per method")
    p.add_argument("--max-epochs", type=int, default=200)
    p.add_argument("--epochs", type=int, default=50, help="dualcontrast: epochs")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--refine", type=int, default=0)
    p.add_argument("--classify", action="store_true", help="classify the particles (classify.classify) after clustering the latents")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--precision", default="no", help="spatial: Trainer mixed_precision")
    p.add_argument("--config", default="{}", help="spatial: model config overrides (JSON)")
    p.add_argument("--threads", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    defaults = dict(harmony=(1000, 48, "harmony3d_mcl,harmony3d,beta_vae"), spatial=(400, 28, "spatial_vae3d,spatial_vae3d_cnn,vae3d_mlp"),
                    dualcontrast=(150, 32, "dualcontrast"))
    n, box, methods = defaults.get(a.what, (None, None, None))
    a.n, a.box, a.methods = a.n or n, a.box or box, a.methods or methods
    if a.methods and len(a.budget) == 1: a.budget = a.budget * len(a.methods.split(","))
    Path(a.out).mkdir(parents=True, exist_ok=True)
    globals()[a.what](a)


if __name__ == "__main__":
    main()
