"""Per-particle transfers (CTF·wedge·dose) against one global wedge: class averages with true labels and poses, and the
default classification stage.

`averages`: the CTF-corrected average (`class_averages`, `wedge="auto"` on data whose particles differ in transfer)
against the binary-wedge average with the set's mean missing-wedge angle, with true labels and poses.

    OMP_NUM_THREADS=1 python benchmarks/bench_weights.py averages [--n-per-class 150] [--box 32] [--snr 0.1 0.01]
        [--seed 0] [--root DIR] [--out benchmarks/results/bench_weights_averages.json]

For each SNR: simulates `seed004_tomo` (per-tomogram tilt ranges ±40–60°, defocus 2–6 µm, exposure 60–120 e⁻/Å², signed
CTF, not premultiplied) into a temporary folder (or under `--root`), averages every class with the true poses both
ways, and compares each average with its class's `references.npy` map in the particles' contrast (AUC-FSC,
`physics.fourier.auc_fsc`; no alignment: the true poses put the averages in the references' frame). Also the
gold-standard half-set FSC resolution (`half_set_fsc`, 0.143) of both ways. Prints one JSON line per SNR and writes
them all to `--out`.

    python benchmarks/bench_weights.py classify [--sets S1,S2,...] [--snrs 0.1] [--starts wide] [--ways weights,global_wedge]
        [--root runs/bench_weights]
    python benchmarks/bench_weights.py report   # the classify table into benchmarks/README.md and results/

`classify`: the generalisation benchmark's four-class sets (`bench_generalisation.SETS`) simulated with `seed004_tomo`
physics (4 × 150, 32³), classified by the default pipeline's classification stage (K chosen) twice on the same data:
with each particle's own transfer (CTF·wedge·dose, `transfer="auto"`) and class averages CTF-corrected, and with one
global wedge (the set's mean missing-wedge angle) for both; its starts with the ab initio aids one to 0.2
cycles/voxel and one on to 0.25 (`--starts aided`, `classify.AB_INITIO_TWO_BANDS`), every start on to 0.25 (`--starts
wide`, the default's), both to 0.2 (`--starts narrow`) or plain (`--starts plain`, `aids=None`), as the generalisation
benchmark's methods; `--ways` runs one way only. Resumable:
one JSON line per set, SNR, way and starts.

    OMP_NUM_THREADS=1 python benchmarks/bench_weights.py poses [--set M1] [--snr 0.1] [--root runs/bench_weights]

`poses`: why a set's averages can score lower with the transfers than with one global wedge after classification: the
set's classification (transfers, K chosen), then its class averages both ways with the estimated labels, rotations
and shifts, and with each of them replaced by the truth; every average aligned onto its majority class's map (the
pipelines' search: 500 rotations, seeds 0 and 1; and 4000 rotations) and scored by AUC-FSC.

    OMP_NUM_THREADS=1 python benchmarks/bench_weights.py loss [--model beta_vae] [--epochs 20] [--n-per-class 150]
        [--box 32] [--snr 0.1] [--seed 0] [--root DIR] [--out benchmarks/results/bench_weights_loss.json]

`loss`: one model trained twice on the same `seed004_tomo` set with the same seed, its reconstruction term voxel by
voxel (the default) and through each particle's transfer (`transfer_loss=True`, `models.fourier_loss`); each scored as
the pipelines score a run: GMM clusters (K = 4) of the content latents → ARI and accuracy (`evaluate_embedding`), and
the decoded template of each cluster aligned onto its class's reference → AUC-FSC (`scoring.class_volumes`), against
the references in the particles' contrast (`stages.load_references`: × the set's contrast sign, −1 here, as the
pipelines score; a decoder through the transfer makes the clean map, which `evaluate.templates_from_clusters` turns
by that sign) and against `references.npy` itself (the clean map).

    OMP_NUM_THREADS=1 python benchmarks/bench_weights.py refine [--n-per-class 150] [--box 32] [--snr 0.1 0.01]
        [--cutoff 0.15] [--seed 0] [--root DIR] [--out benchmarks/results/bench_weights_refine.json]

`refine`: the template pose search (`refine.refine_poses`, the pipeline's refine stage's defaults) with the true maps
(in the particles' contrast) as templates, each particle searched against every class's map: three ways on the same
`seed004_tomo` data, each particle through its own transfer (`transfer="auto"`), one global wedge (the set's mean
missing-wedge angle) and each particle's own wedge angle (its `mwa` column, binary). Scored: the symmetry-aware pose
error (classwise median, as `evaluate` scores it) of the search against each particle's true class, the assignment
accuracy of the best score over the classes, and the wall time of the searches.
"""
import argparse, contextlib, json, platform, tempfile, time
from pathlib import Path
import numpy as np


def averages_case(root: Path, n: int, box: int, snr: float, seed: int, structures=None) -> dict:
    import torch
    from cryo_disent.analysis.averaging import class_averages, half_set_fsc
    from cryo_disent.data.datasets import VolumeDataset
    from cryo_disent.physics.fourier import auc_fsc
    from cryo_disent.physics.simulate import simulate_dataset

    t0 = time.time()
    f = simulate_dataset("seed004_tomo", root / f"snr{snr}", n_per_class=n, box=box, snr=snr, seed=seed, progress=False,
                         **({} if structures is None else dict(structures=structures)))
    t_sim = time.time() - t0
    ds = VolumeDataset.from_folder(f)
    meta = json.loads((f / "dataset.json").read_text())["meta"]
    refs = torch.from_numpy(np.load(f / "references.npy")) * meta["contrast"]
    y, R, t = ds.labels.numpy(), ds.rotations, ds.shifts
    vs, mwa = float(ds.table.voxel_size.iloc[0]), float(ds.table.mwa.mean())
    out = dict(preset="seed004_tomo", n_per_class=n, box=box, snr=snr, seed=seed, voxel_size=vs, mean_mwa=mwa,
               simulate_s=round(t_sim, 1))
    for name, wedge in (("weighted", "auto"), ("global_wedge", mwa)):
        t0 = time.time()
        auc = auc_fsc(class_averages(ds, y, R, t, wedge=wedge)[0], refs).numpy()
        out[f"{name}_s"] = round(time.time() - t0, 1)
        hs = half_set_fsc(ds, y, R, t, wedge=wedge, voxel_size=vs, seed=seed)
        out[f"{name}_auc_fsc"] = [round(float(a), 4) for a in auc]
        out[f"{name}_auc_fsc_mean"] = round(float(auc.mean()), 4)
        out[f"{name}_half_set_resolution_A"] = [round(float(r), 1) for r in hs["resolution_A"]]
        out[f"{name}_half_set_resolution_cycles"] = [round(float(r), 4) for r in hs["resolution"]]
    info = json.loads((f / "dataset.json").read_text())
    out["classes"] = [c["name"] for c in sorted(info["classes"], key=lambda c: c["label"])]
    return out


def _structures(name):
    "The structures of generalisation set `name` (None: the preset's own)."
    if name is None:
        return None
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_generalisation import SETS
    return SETS[name][1]


def averages(args):
    import torch

    rows = []
    with tempfile.TemporaryDirectory(dir=args.root) as d:
        for snr in args.snr:
            r = averages_case(Path(d), args.n_per_class, args.box, snr, args.seed, _structures(args.set))
            r.update(torch=torch.__version__, threads=torch.get_num_threads(), machine=platform.machine())
            print(json.dumps(r), flush=True)
            rows.append(r)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")


WAYS = ("weights", "global_wedge")


def set_data(root: Path, name: str, snr: float) -> Path:
    "Generalisation set `name` simulated with `seed004_tomo` physics under `root/data` (once; reused when there)."
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_generalisation import SETS
    from cryo_disent.physics.simulate import simulate_dataset

    f = root / "data" / f"{name}_snr{snr:g}"
    if not (f / "dataset.json").exists():
        simulate_dataset("seed004_tomo", f, structures=SETS[name][1], n_per_class=150, box=32, snr=snr,
                         seed=200 + sorted(SETS).index(name), progress=False)
    return f


def poses_cmd(args):
    """Class averages of one set after its classification (per-particle transfers), both ways, with the estimated or
    true labels, rotations and shifts, each average aligned onto its class's map with several searches."""
    import torch
    from cryo_disent.analysis.alignment import aligned_auc_fsc
    from cryo_disent.analysis.averaging import class_averages
    from cryo_disent.analysis.classify import classify
    from cryo_disent.app.stages import dataset_class_names, load_references
    from cryo_disent.data.datasets import VolumeDataset

    torch.set_num_threads(args.threads)
    f = set_data(Path(args.root), args.set, args.snr)
    ds = VolumeDataset.from_folder(f)
    c = classify(ds, k=None, seed=0, progress=False, transfer="auto", mwa=None)
    refs, names, y = load_references(f), dataset_class_names(ds), ds.labels.numpy()
    mwa = float(ds.table.mwa.mean())
    est, true = (c["labels"], c["rotation"], c["translation"]), (y, ds.rotations.numpy(), ds.shifts.numpy())
    cases = {"estimated": est, "true labels": (y, *est[1:]), "true rotations": (est[0], true[1], est[2]),
             "true labels and rotations": (y, true[1], est[2]), "true": true}
    searches = [(500, 0), (500, 1), (4000, 0)]  # (rotations, seed) of the alignment onto the class's map
    out = dict(set=args.set, snr=args.snr, k=int(c["k"]), classes=names, searches=searches, cases=[])
    for case, (lab, R, t) in cases.items():
        for way, wedge in (("weights", "auto"), ("global_wedge", mwa)):
            avg = class_averages(ds, lab, R, t, wedge=wedge)[0]
            ids = np.unique(lab[lab >= 0])
            major = [int(np.bincount(y[lab == i]).argmax()) for i in ids]  # each class's majority true class
            auc = [[round(aligned_auc_fsc(avg[j], refs[m], n_rotations=n, seed=sd, max_shift=3.0)[0], 3)
                    for n, sd in searches] for j, m in enumerate(major)]
            r = dict(case=case, way=way, classes=[names[m] for m in major], auc_fsc=auc)
            print(json.dumps(r), flush=True)
            out["cases"].append(r)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


def classify_case(root: Path, name: str, snr: float, way: str, starts: str = "wide", amplitude: bool = False,
                  split: int = 0) -> dict:
    import sys
    import torch
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_generalisation import SETS, _scored, merge_record, narrow_aids, read_way, two_band_aids, wide_aids
    from cryo_disent.analysis.classify import classify
    from cryo_disent.app.demo import DEMO_CLASSIFY
    from cryo_disent.data.datasets import VolumeDataset

    f = set_data(root, name, snr)
    ds = VolumeDataset.from_folder(f)
    mwa = float(ds.table.mwa.mean())
    opts = DEMO_CLASSIFY["full"] if isinstance(DEMO_CLASSIFY["full"], dict) else {}
    t0 = time.time()
    kw = read_way(ds, way)
    aids = dict(aided=dict(aids=two_band_aids()), narrow=dict(aids=narrow_aids()), plain=dict(aids=None), wide=dict(aids=wide_aids()))[starts]
    c = classify(ds, k=None, seed=0, progress=False, amplitude=amplitude, **kw, **{**opts, **aids, "split": split})
    wall = time.time() - t0
    r = _scored(ds, f, c["labels"], c["posterior"], c["rotation"], c["translation"],
                wedge="auto" if way == "weights" else mwa, k_chosen_by="classification")
    return dict(set=name, kind=SETS[name][0], snr=snr, way=way, starts=starts, mean_mwa=round(mwa, 1), time_s=round(wall),
                threads=torch.get_num_threads(), machine=platform.machine(), amplitude=bool(c["amplitude"]),
                **({"split": split} if split else {}), **r,
                **merge_record(c))


def classify_cmd(args):
    import inspect, sys
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_generalisation import append_jsonl, resumed
    from cryo_disent.analysis.classify import classify
    if args.split is None: args.split = inspect.signature(classify).parameters["split"].default
    root = Path(args.root)
    p, done = resumed(args, "classify.jsonl",
                      lambda r: (r["set"], r["snr"], r["way"], r["starts"], r.get("amplitude", False), r.get("split", 0)))
    ways = args.ways.split(",")
    if not set(ways) <= set(WAYS):
        raise SystemExit(f"--ways: expected some of {','.join(WAYS)}, got {args.ways}")
    for snr in map(float, args.snrs.split(",")):
        for name in args.sets.split(","):
            for way in ways:
                if (name, snr, way, args.starts, args.amplitude, args.split) in done:
                    continue
                append_jsonl(p, classify_case(root, name, snr, way, args.starts, args.amplitude, args.split))


def classify_table(recs: list) -> str:
    rows = ["| set | kind | SNR | starts | mean MWA ° | ARI (K), weights | ARI (K), global wedge | pose error °, weights / global | "
            "AUC-FSC, weights / global | time s, weights / global |", "|---|---|---|---|---|---|---|---|---|---|"]
    key = lambda r: (r["snr"], r["starts"] + (" + amplitudes" if r.get("amplitude") else "")
                     + (f" + split ({r['split']} starts)" if r.get("split") else ""), r["set"])
    g = {}
    for r in recs:
        g.setdefault(key(r), {})[r["way"]] = r
    f = lambda v, d=2: "—" if v is None else f"{v:.{d}f}"
    cell = lambda r, o: "—" if r is None else (f"**{f(r['ari'])}**" if o is not None and r["ari"] > o["ari"] + 5e-3
                                               else f(r["ari"])) + f" ({r['k']})"  # the better one in bold, if it is
    get = lambda r, k, d=2: "—" if r is None else f(r[k], d)
    for (snr, starts, name), w in sorted(g.items(), key=lambda kv: (-kv[0][0], kv[0][1], kv[0][2])):
        a, b = w.get("weights"), w.get("global_wedge")
        one = a or b
        rows.append(f"| {name} | {one['kind']} | {snr:g} | {starts} | {one['mean_mwa']} | {cell(a, b)} | {cell(b, a)} | "
                    f"{get(a, 'pose_error_deg', 1)} / {get(b, 'pose_error_deg', 1)} | {get(a, 'auc_fsc')} / {get(b, 'auc_fsc')} | "
                    f"{a['time_s'] if a else '—'} / {b['time_s'] if b else '—'} |")
    for snr, starts in sorted({k[:2] for k in g}, key=lambda k: (-k[0], k[1])):
        sets = [w for k, w in g.items() if k[:2] == (snr, starts)]
        m = lambda way, k, d: (lambda v: f"{np.mean(v):.{d}f}" if v else "—")([w[way][k] for w in sets if way in w])
        rows.append(f"| mean of {len(sets)} | | {snr:g} | {starts} | | {m('weights', 'ari', 3)} | {m('global_wedge', 'ari', 3)} | "
                    f"{m('weights', 'pose_error_deg', 1)} / {m('global_wedge', 'pose_error_deg', 1)} | "
                    f"{m('weights', 'auc_fsc', 3)} / {m('global_wedge', 'auc_fsc', 3)} | |")
    return "\n".join(rows)


def report(args):
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_generalisation import fill, read_jsonl, seeded
    Path(args.root).mkdir(parents=True, exist_ok=True)
    recs = read_jsonl(seeded(Path(args.root) / "classify.jsonl"))
    Path("benchmarks/results/bench_weights_classify.json").write_text(json.dumps(recs, indent=1) + "\n")
    fill(Path("benchmarks/README.md"), "weights-classify", classify_table(recs))
    print(classify_table(recs))


def loss_case(root: Path, model: str, epochs: int, n: int, box: int, snr: float, seed: int, batch_size: int) -> list:
    import torch
    from cryo_disent.analysis.clustering import cluster_latents
    from cryo_disent.analysis.evaluate import embed_dataset, evaluate_embedding
    from cryo_disent.app.scoring import class_volumes
    from cryo_disent.app.stages import load_references
    from cryo_disent.core import seed_everything
    from cryo_disent.data.datasets import VolumeDataset, dataset_info
    from cryo_disent.models.registry import get_model_class
    from cryo_disent.physics.simulate import simulate_dataset
    from cryo_disent.training.train import Trainer

    f, t0 = root / f"tomo_snr{snr:g}", time.time()
    if not (f / "dataset.json").exists():
        simulate_dataset("seed004_tomo", f, n_per_class=n, box=box, snr=snr, seed=seed, progress=False)
    t_sim = time.time() - t0
    ds, info = VolumeDataset.from_folder(f), dataset_info(f)
    names = [c["name"] for c in sorted(info["classes"], key=lambda c: c["label"])]
    refs, cls = load_references(f), get_model_class(model)
    rows = []
    for way, on in (("voxel", False), ("transfer", True)):
        seed_everything(seed)
        m = cls(cls.config_from_data(info, transfer_loss=on, **cls.demo_training["full"]["model_config"]))
        t0 = time.time()
        hist = Trainer(m, ds, out_dir=root / f"{model}_{way}", epochs=epochs, batch_size=batch_size, seed=seed,
                       device="cpu", progress=False).fit(resume=False)
        t_train, t0 = time.time() - t0, time.time()
        emb = embed_dataset(m, ds)
        pred = cluster_latents(emb["content"], len(names), "gmm", seed=seed)
        ev = evaluate_embedding(emb, len(names), labels_pred=pred, disentanglement=False, seed=seed)
        t_eval, t0 = time.time() - t0, time.time()
        _, vm = class_volumes(m, ds, emb, pred, refs, names, seed=seed)
        _, clean = class_volumes(m, ds, emb, pred, np.load(f / "references.npy"), names, seed=seed)  # no contrast sign
        r = dict(model=model, way=way, transfer_loss=on, epochs=epochs, batch_size=batch_size, preset="seed004_tomo",
                 n_per_class=n, box=box, snr=snr, seed=seed, varying_transfer=ds.varying_transfer,
                 ari=round(ev["ari"], 4), accuracy=round(ev["accuracy"], 4),
                 pose_error_median_deg=round(ev["pose_error_median_deg"], 1) if "pose_error_median_deg" in ev else None,
                 final_train_recon=round(hist[-1]["recon"], 2),
                 template_auc_fsc={k: round(v, 4) for k, v in vm.get("template_auc_fsc", {}).items()},
                 template_auc_fsc_mean=round(vm["template_auc_fsc_mean"], 4) if vm.get("template_auc_fsc") else None,
                 template_auc_fsc_clean_refs={k: round(v, 4) for k, v in clean.get("template_auc_fsc", {}).items()},
                 template_auc_fsc_clean_refs_mean=round(clean["template_auc_fsc_mean"], 4),
                 average_auc_fsc_mean=round(vm["average_auc_fsc_mean"], 4) if vm.get("average_auc_fsc") else None,
                 simulate_s=round(t_sim, 1), train_s=round(t_train, 1), evaluate_s=round(t_eval, 1),
                 volumes_s=round(time.time() - t0, 1), torch=torch.__version__,
                 threads=torch.get_num_threads(), machine=platform.machine())
        print(json.dumps(r), flush=True)
        rows.append(r)
    return rows


def loss_cmd(args):
    import torch
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory(dir=args.root) if args.keep is None else contextlib.nullcontext(args.keep) as d:
        for model in args.model:
            rows += loss_case(Path(d), model, args.epochs, args.n_per_class, args.box, args.snr, args.seed,
                              args.batch_size)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")
REFINE_WAYS = ("transfers", "global_wedge", "wedge_per_particle")


def refine_case(root: Path, n: int, box: int, snr: float, cutoff: float, seed: int) -> dict:
    import torch
    from cryo_disent.analysis.evaluate import pose_errors
    from cryo_disent.analysis.refine import _stack_particles, reference_symmetries, refine_poses, search_size
    from cryo_disent.app.scoring import _symmetry
    from cryo_disent.data.datasets import VolumeDataset
    from cryo_disent.physics.simulate import simulate_dataset

    f = simulate_dataset("seed004_tomo", root / f"refine_snr{snr}", n_per_class=n, box=box, snr=snr, seed=seed,
                         progress=False)
    ds = VolumeDataset.from_folder(f)
    info = json.loads((f / "dataset.json").read_text())
    refs = torch.from_numpy(np.load(f / "references.npy")) * info["meta"]["contrast"]
    y, N = ds.labels.numpy(), len(ds)
    sym = _symmetry(f, None)
    sym = {**sym, **{c: v.numpy() for c, v in reference_symmetries(sym, refs).items()}} if isinstance(sym, dict) else sym
    m = search_size(box, cutoff)
    xs = _stack_particles(ds, m, cutoff * box / m)
    mwa = float(ds.table.mwa.mean())
    ways = dict(transfers=dict(transfer="auto"), global_wedge=dict(transfer=None, mwa=mwa),
                wedge_per_particle=dict(transfer=None, mwa=ds.table.mwa.to_numpy()))
    out = dict(preset="seed004_tomo", n_per_class=n, box=box, snr=snr, cutoff=cutoff, seed=seed, mean_mwa=round(mwa, 1),
               classes=[c["name"] for c in sorted(info["classes"], key=lambda c: c["label"])])
    for way in REFINE_WAYS:
        t0 = time.time()
        per = [refine_poses(ds, refs, np.full(N, k), cutoff=cutoff, search=xs, seed=seed, **ways[way])
               for k in range(len(refs))]
        wall = time.time() - t0
        R = torch.stack([r["rotation"] for r in per], 1)[torch.arange(N), torch.as_tensor(y)]
        e = pose_errors(dict(rotation=R.numpy(), true_rotation=ds.rotations.numpy(), label=y), symmetry=sym)
        pred = torch.stack([r["score"] for r in per], 1).argmax(1).numpy()
        out[way] = dict(pose_error_classwise_median_deg=round(float(np.nanmedian(e["rotation_deg"])), 2),
                        pose_error_median_deg_per_class=[round(e["per_class"][str(c)]["median"], 2)
                                                         for c in range(len(refs))],
                        accuracy=round(float((pred == y).mean()), 4), time_s=round(wall, 1))
    return out


def refine_cmd(args):
    import torch

    rows = []
    with tempfile.TemporaryDirectory(dir=args.root) as d:
        for snr in args.snr:
            r = refine_case(Path(d), args.n_per_class, args.box, snr, args.cutoff, args.seed)
            r.update(torch=torch.__version__, threads=torch.get_num_threads(), machine=platform.machine())
            print(json.dumps(r), flush=True)
            rows.append(r)
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("averages", help="weighted vs global-wedge class averages with true poses")
    a.add_argument("--n-per-class", type=int, default=150)
    a.add_argument("--box", type=int, default=32)
    a.add_argument("--snr", type=float, nargs="+", default=[0.1, 0.01])
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--set", default=None, help="the structures of a generalisation set (bench_generalisation.SETS)")
    a.add_argument("--root", default=None, help="folder for the temporary data sets (default: the system's)")
    a.add_argument("--out", default="benchmarks/results/bench_weights_averages.json")
    c = sub.add_parser("classify", help="classification with per-particle transfers vs one global wedge")
    c.add_argument("--sets", default="S1,S2,S3,M1,M2,M4,seed004")
    c.add_argument("--snrs", default="0.1")
    c.add_argument("--root", default="runs/bench_weights")
    c.add_argument("--threads", type=int, default=1)
    c.add_argument("--ways", default=",".join(WAYS), help="weights, global_wedge or both (default)")
    c.add_argument("--starts", default="wide", choices=["aided", "narrow", "plain", "wide"],
                   help="the classification's starts: every start to 0.25 (wide, the default's), one to 0.2 and one to "
                   "0.25 (aided), both to 0.2, or plain")
    c.add_argument("--amplitude", action="store_true", help="estimate each particle's amplitude (classify(amplitude=True))")
    c.add_argument("--split", type=int, default=None, help="the split move's starts per try (classify(split=N), "
                   "default classify's); 0: none")
    q = sub.add_parser("poses", help="one set's class averages after classification: estimated vs true labels/poses")
    q.add_argument("--set", default="M1")
    q.add_argument("--snr", type=float, default=0.1)
    q.add_argument("--root", default="runs/bench_weights")
    q.add_argument("--threads", type=int, default=1)
    q.add_argument("--out", default="benchmarks/results/bench_weights_poses.json")
    r = sub.add_parser("report", help="the classify table into benchmarks/README.md and benchmarks/results/")
    r.add_argument("--root", default="runs/bench_weights")
    lo = sub.add_parser("loss", help="a model trained with its reconstruction voxel by voxel vs through each transfer")
    lo.add_argument("--model", nargs="+", default=["beta_vae"])
    lo.add_argument("--epochs", type=int, default=20)
    lo.add_argument("--batch-size", type=int, default=32)
    lo.add_argument("--n-per-class", type=int, default=150)
    lo.add_argument("--box", type=int, default=32)
    lo.add_argument("--snr", type=float, default=0.1)
    lo.add_argument("--seed", type=int, default=0)
    lo.add_argument("--threads", type=int, default=1)
    lo.add_argument("--root", default=None, help="folder for the temporary data set and runs (default: the system's)")
    lo.add_argument("--keep", default=None, help="a folder to keep the data set and runs in (reused when there)")
    lo.add_argument("--out", default="benchmarks/results/bench_weights_loss.json")
    f = sub.add_parser("refine", help="template pose search through per-particle transfers vs wedges, true templates")
    f.add_argument("--n-per-class", type=int, default=150)
    f.add_argument("--box", type=int, default=32)
    f.add_argument("--snr", type=float, nargs="+", default=[0.1, 0.01])
    f.add_argument("--cutoff", type=float, default=0.15, help="band of the search, cycles per voxel (refine_poses')")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--root", default=None, help="folder for the temporary data sets (default: the system's)")
    f.add_argument("--out", default="benchmarks/results/bench_weights_refine.json")
    args = p.parse_args()
    cmds = {"averages": averages, "classify": classify_cmd, "poses": poses_cmd, "report": report, "loss": loss_cmd, "refine": refine_cmd}
    cmds[args.command](args)


if __name__ == "__main__":
    main()
