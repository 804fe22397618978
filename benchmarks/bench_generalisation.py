"""Structure generalisation: does the default pipeline find the classes of sets it was never tuned on?

    python benchmarks/bench_generalisation.py sets                       # the sets (drawn with a seed; checked against SETS)
    python benchmarks/bench_generalisation.py run [--root runs/bench_gen] [--sets S1,M2,...] [--snrs 0.1,0.01]
                                                  [--methods ceiling,default,split,classification,plain,beta_vae,harmony3d]
    python benchmarks/bench_generalisation.py mcl [--root runs/bench_gen] [--seeds 0,1,2]   # Harmony3D vs + MCL, SNR 0.01
    python benchmarks/bench_generalisation.py pairs [--root runs/bench_gen]  # can EM split two structures from an uninformed start?
    python benchmarks/bench_generalisation.py alone [--root runs/bench_gen]  # each class alone: can it be aligned ab initio?
    python benchmarks/bench_generalisation.py abinitio [--seeds 0,1,2,3]  # each class alone from random poses: plain EM or aided
    python benchmarks/bench_generalisation.py paths [--sets S2,M3] [--snrs 0.1] [--methods wide]  # each K the merging visits
        [--physics seed004_tomo --way weights|global_wedge]  # the per-particle-transfer physics of bench_weights.py
    python benchmarks/bench_generalisation.py truth [--physics seed004|seed004_tomo] [--bands 0.2,0.25]  # ρ at the truth
    python benchmarks/bench_generalisation.py report [--root runs/bench_gen]  # results/generalisation.json + README table

Sets: four-class sets of the shipped structures (`cryo_disent.physics.structures`), seven *same-size* (every r_max within ±20 %
of the set's median: three of the five ribosome-sized complexes, four of the small proteins), six *mixed*, and the
`seed004` preset itself. Each is simulated with the seed004 physics (`presets.PRESETS['seed004']`: 5 µm CTF, 15 Å
output low-pass, standardised, soft mask, common voxel size fitted to the largest class, ≥ 7.5 Å) at 4 × 150 particles,
32³, missing wedge 30°, at SNR 0.1 and 0.01. For every set and SNR, on the same data:

- `default`: the library's default pipeline at `make demo`'s budget (`demo.DEMO_MODEL` and its demo training, then
  `pipelines.run_pipeline`'s defaults: latent clustering and reference-free classification, K chosen by it);
  `default_plain`: the same with the classification's starts plain (`--no-ab-initio`); `default_narrow`: with both
  starts to 0.2 cycles/voxel (`aids=classify.AB_INITIO`); both without the split move; its one record was made with
  one start to 0.2 and one on to 0.25, without the split move;
- `wide_split`: the default pipeline's classification stage alone (it does not read the model's embedding): every
  start with the ab initio aids on to 0.25 cycles/voxel (`classify.AB_INITIO_STARTS`), the kept start merging below
  `classify.MERGE_BELOW` at 0.25, then the split move (`classify(split=3)`: the largest class tried in two at 0.25,
  kept where its halves stand apart, merged again there); `split`: the same from one start to 0.2 and one on to 0.25
  (`classify.AB_INITIO_TWO_BANDS`), merging at the kept start's band; `classification`: those starts without the split
  move (`split=0`), as the variants below; `plain`: with plain starts (`aids=None`); `narrow`: both starts to 0.2
  (`aids=classify.AB_INITIO`); `starts4`: `split` with four starts, two each way (`restarts=4`);
- `wide`: the classification stage with both starts on to 0.25 cycles/voxel (`classify.AB_INITIO_WIDE`: 0.1×6,
  0.15×10, 0.2×6, 0.25×8; the rotations stay 2000 at the finest band), merging below ρ 0.21 at 0.25 as at 0.2;
  `ceiling_wide`: the ceiling at 0.25 (the ceiling of the methods that may end there);
- `beta_vae`: β-VAE at its demo budget, its latents clustered (K by ICL), no classification;
- `harmony3d`: Harmony3D without MCL at its demo budget, its latents clustered (K by ICL), poses refined against its
  decoded templates (the pipeline before classification);
- `ceiling`: every particle scored against the *true* maps passed through the data's CTF and low-pass (a matched filter;
  the wedge is each particle's own, in the score), each map's amplitude fitted by least squares on its true particles at
  their true poses, with the classification's own search (`em.expectation` and `refine_active` at its finest
  band) and assigned to the best class evidence; K = 4 given.

Every run appends one JSON line to ROOT/results.jsonl (rerunning skips what is there: resumable); `report` writes
`benchmarks/results/generalisation.json` (records and a summary) and the table in `benchmarks/README.md`.
"""
import argparse, functools, itertools, json, math, platform, sys, time
from datetime import date
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
SETS = {  # name: (kind, structures), as `draw_sets()` draws them (`sets` checks)
    "S1": ("same-size", ("2GTL_erythrocruorin_full", "3JB9_spliceosome", "6QT9_SH1_capsid_ASU", "6ZU5_80S_ribosome")),
    "S2": ("same-size", ("2GTL_erythrocruorin_full", "4V5D_70S_ribosome", "6QT9_SH1_capsid_ASU", "6ZU5_80S_ribosome")),
    "S3": ("same-size", ("3JB9_spliceosome", "4V5D_70S_ribosome", "6QT9_SH1_capsid_ASU", "6ZU5_80S_ribosome")),
    "S4": ("same-size", ("1BD2_TCR_pMHC", "2NWL_GltPh_trimer", "3O21_GluA3NTD_dimer", "4V1W_apoferritin")),
    "S5": ("same-size", ("1BD2_TCR_pMHC", "2NWL_GltPh_trimer", "4V1W_apoferritin", "7DDO_ACE2_RBD")),
    "S6": ("same-size", ("1BD2_TCR_pMHC", "2NWL_GltPh_trimer", "7DDO_ACE2_RBD", "7PBL_RuvAB_HJ")),
    "S7": ("same-size", ("2NWL_GltPh_trimer", "3O21_GluA3NTD_dimer", "7DDO_ACE2_RBD", "7PBL_RuvAB_HJ")),
    "M1": ("mixed", ("3O21_GluA3NTD_dimer", "4V1W_apoferritin", "6QT9_SH1_capsid_ASU", "7DDO_ACE2_RBD")),
    "M2": ("mixed", ("2NWL_GltPh_trimer", "4V8R_TRiC_one", "6ZU5_80S_ribosome", "7DDO_ACE2_RBD")),
    "M3": ("mixed", ("1BD2_TCR_pMHC", "3O21_GluA3NTD_dimer", "6QT9_SH1_capsid_ASU", "7PBL_RuvAB_HJ")),
    "M4": ("mixed", ("1BD2_TCR_pMHC", "1TII_AB5_toxin", "4AKE_adk_open", "6QT9_SH1_capsid_ASU")),
    "M5": ("mixed", ("1BD2_TCR_pMHC", "1UBI_ubiquitin", "3ENL_enolase_dimer", "7DDO_ACE2_RBD")),
    "M6": ("mixed", ("2GTL_erythrocruorin_full", "4V1W_apoferritin", "6QT9_SH1_capsid_ASU", "7DDO_ACE2_RBD")),
    "seed004": ("mixed", ("6ZU5_80S_ribosome", "4V8R_TRiC_one", "2GTL_erythrocruorin_full", "4V1W_apoferritin")),
}
DRAW_SEED, N_BIG, N_SMALL, N_MIXED = 0, 3, 4, 6
PER_CLASS, BOX, MWA, SNRS = 150, 32, 30.0, (0.1, 0.01)
METHODS = ("ceiling", "default", "wide_split", "split", "starts4", "classification", "narrow", "plain", "default_narrow",
           "default_plain", "ceiling_wide", "wide", "beta_vae", "harmony3d")
CEILING_OF = {m: "ceiling_wide" for m in ("wide", "classification", "split", "wide_split", "starts4", "default")}  # may end at 0.25: its ceiling


def radii() -> dict:
    from cryo_disent.physics.structures import structures
    t = structures()
    return dict(zip(t["name"], t["r_max_A"]))


def same_size(names, r) -> bool:
    m = float(np.median([r[n] for n in names]))
    return all(abs(r[n] - m) <= 0.2 * m for n in names)


def draw_sets(seed: int = DRAW_SEED) -> dict:
    "Same-size sets (N_BIG with median r_max > 120 Å, N_SMALL below) and N_MIXED others, drawn with `seed`; plus seed004."
    r = radii()
    names = sorted(r)
    rng = np.random.default_rng(seed)
    same = [c for c in itertools.combinations(names, 4) if same_size(c, r)]
    big = [c for c in same if np.median([r[n] for n in c]) > 120]
    small = [c for c in same if c not in big]
    pick = lambda pool, k: [pool[i] for i in sorted(rng.choice(len(pool), k, replace=False))]
    out = {f"S{i + 1}": ("same-size", c) for i, c in enumerate(pick(big, N_BIG) + pick(small, N_SMALL))}
    mixed = []
    while len(mixed) < N_MIXED:
        c = tuple(sorted(rng.choice(names, 4, replace=False)))
        if not same_size(c, r) and c not in mixed: mixed.append(c)
    out.update({f"M{i + 1}": ("mixed", c) for i, c in enumerate(mixed)})
    from cryo_disent.physics.presets import PRESETS
    out["seed004"] = ("mixed", tuple(PRESETS["seed004"].structures))
    return out


def data_dir(root: Path, name: str, snr: float, per_class: int = PER_CLASS) -> Path:
    return root / "data" / (f"{name}_snr{snr:g}" + ("" if per_class == PER_CLASS else f"_n{per_class}"))


def simulate(root: Path, name: str, snr: float, per_class: int = PER_CLASS) -> Path:
    from cryo_disent.physics.simulate import simulate_dataset
    out = data_dir(root, name, snr, per_class)
    if not (out / "dataset.json").exists():
        seed = 0 if name == "seed004" else 100 + sorted(SETS).index(name)  # seed004: exactly `make demo`'s data at SNR 0.1
        simulate_dataset("seed004", out, structures=SETS[name][1], n_per_class=per_class, box=BOX, snr=snr, mwa=MWA,
                         seed=seed, progress=False)
    return out


def _pick(m: dict) -> dict:
    return dict(ari=m.get("ari"), accuracy=m.get("accuracy"), k=m.get("k"), k_chosen_by=m.get("k_chosen_by"),
                pose_error_deg=m.get("pose_error_classwise_median_deg"), auc_fsc=m.get("average_auc_fsc_mean"),
                latent_ari=m.get("latent_ari"), latent_k=m.get("latent_k"))


def run_model(data: Path, out: Path, model: str, classify) -> dict:
    from cryo_disent.app.demo import DEMO, DEMO_TRAINING
    from cryo_disent.app.pipelines import run_pipeline
    t = DEMO_TRAINING[model]["full"]
    m = run_pipeline(data, out, model=model, model_config=dict(t["model_config"]), resume=False, report=False,
                     train_config=dict(epochs=t["epochs"], batch_size=DEMO["full"]["batch_size"], seed=0, progress=False),
                     n_rotations=500, classify=classify)
    return _pick(m)


def run_default(data: Path, out: Path, classify=None) -> dict:
    from cryo_disent.app.demo import DEMO_CLASSIFY, DEMO_MODEL
    return dict(run_model(data, out, DEMO_MODEL, classify or DEMO_CLASSIFY["full"]), model=DEMO_MODEL)


def matched_references(data: Path) -> np.ndarray:
    "The true maps through the data's CTF and output low-pass (`references.npy` already carries the resolution blur)."
    from cryo_disent.data.datasets import dataset_info
    from cryo_disent.physics.density import k_radius
    from cryo_disent.physics.fourier import gaussian_transfer
    from cryo_disent.physics.microscope import ctf
    meta = dataset_info(data)["meta"]
    sim, n = meta["simulation"], meta["simulation"]["box"]
    refs = torch.from_numpy(np.load(data / "references.npy")).float()
    out = []
    for c, v in zip(meta["classes"], refs):
        kA = k_radius(n) / c["voxel_size"]
        H = torch.ones_like(kA)
        if sim["ctf"]:
            d = sim["ctf"]["defocus_um"]
            H = H * ctf(kA, float(np.mean(d)), sim["ctf"]["voltage_kv"], sim["ctf"]["cs_mm"], sim["ctf"]["amplitude_contrast"],
                        sim["ctf"]["bfactor"])
        if sim["lowpass_output"]: H = H * gaussian_transfer(kA, sim["lowpass_output"])
        out.append(torch.fft.irfftn(torch.fft.rfftn(v) * H, s=(n,) * 3))
    return torch.stack(out).numpy()


def run_ceiling(data: Path, out: Path, band: float | None = None) -> dict:
    "True maps as the references of the classification's own search at `band` (default: its finest); K = 4 given."
    from cryo_disent.analysis.averaging import dataset_wedge
    from cryo_disent.analysis.em import SCHEDULE, BandData, expectation, refine_active
    from cryo_disent.data.datasets import VolumeDataset
    ds = VolumeDataset.from_folder(data)
    y = ds.labels.numpy()
    top = band or SCHEDULE[-1][0]
    bd = BandData(ds, dataset_wedge(ds), top)
    b, grid, X, M, inv = bd.at(top)
    G = grid.from_maps(torch.from_numpy(matched_references(data)))
    S = torch.stack([grid.sample(G[l:l + 1], ds.rotations[i:i + 1])[0, 0] for i, l in enumerate(y.tolist())]) * b.phase(ds.shifts).conj()
    num, den = ((X * S.conj()).real * b.w * inv).sum(1), ((S.abs() ** 2) * M * b.w * inv).sum(1)  # X = M·x
    scale = torch.stack([num[y == k].sum() / den[y == k].sum() for k in range(len(G))])  # least-squares amplitude per class
    G = G * scale[:, None, None, None]
    e = expectation(bd, top, G)
    gamma = torch.softmax(e["lse"], 1)
    e = refine_active(bd, top, G, e, gamma, torch.Generator().manual_seed(0))
    lab = e["lse"].argmax(1)
    i = torch.arange(len(lab))
    return _scored(ds, data, lab.numpy(), gamma.numpy(), e["R"][i, lab, 0].numpy(), e["t"][i, lab, 0].numpy(), k_chosen_by="given")


def _scored(ds, data: Path, lab, posterior, rotation, translation, wedge="auto", **extra) -> dict:
    "ARI, accuracy, symmetry-aware classwise pose error and class-average AUC-FSC of one labelling with its poses."
    from cryo_disent.analysis.evaluate import evaluate_embedding
    from cryo_disent.app.scoring import _symmetry, class_volumes
    from cryo_disent.app.stages import dataset_class_names, load_references
    from cryo_disent.analysis.refine import reference_symmetries
    emb = dict(content=posterior, label=ds.labels.numpy(), rotation=rotation, translation=translation,
               true_rotation=ds.rotations.numpy(), true_shift=ds.shifts.numpy())
    refs = load_references(data)
    sym = _symmetry(data, None)
    sym = {**sym, **{c: v.numpy() for c, v in reference_symmetries(sym, refs).items()}} if isinstance(sym, dict) else sym
    k = len(np.unique(lab))
    m = evaluate_embedding(emb, k, labels_pred=lab, symmetry=sym, disentanglement=False)
    _, vm = class_volumes(None, ds, emb, lab, refs, dataset_class_names(ds), 500, 0, wedge=wedge)
    return _pick({**m, **vm, "k": k, **extra})


def run_classification(data: Path, out: Path, **options) -> dict:
    """The default pipeline's classification stage alone, with the pipeline's options: it does not read the model's
    embedding, so its classes, K and poses are the `default` pipeline's (same data, seed and options), without training."""
    from cryo_disent.data.datasets import VolumeDataset
    ds = VolumeDataset.from_folder(data)
    c = default_classification(ds, **options)  # `options`: e.g. aids=None
    return dict(_scored(ds, data, c["labels"], c["posterior"], c["rotation"], c["translation"], k_chosen_by="classification"),
                **merge_record(c))


def default_classification(ds, progress: bool = True, **options) -> dict:
    "`classify.classify` of a dataset as the default pipeline runs it (`make demo`'s options, seed 0, K chosen)."
    from cryo_disent.analysis.averaging import dataset_wedge
    from cryo_disent.analysis.classify import classify
    from cryo_disent.app.demo import DEMO_CLASSIFY
    opts = DEMO_CLASSIFY["full"] if isinstance(DEMO_CLASSIFY["full"], dict) else {}
    return classify(ds, k=None, mwa=dataset_wedge(ds), seed=0, progress=progress, **{**opts, **options})


def merge_record(c: dict) -> dict:
    "How a classification chose K: its kept start's band and each merge or drop (the pair's ρ, the classes' sizes)."
    return dict(band=c.get("band"), merged=c.get("merged"), **({"splits": c["splits"]} if "splits" in c else {}))


NO_SPLIT = dict(split=0)  # the classification as it ran before the split move (the variants below are measured so)
RUNNERS = dict(ceiling=run_ceiling, default=run_default,
               classification=lambda d, o: run_classification(d, o, aids=two_band_aids(), **NO_SPLIT),
               narrow=lambda d, o: run_classification(d, o, aids=narrow_aids(), **NO_SPLIT),  # both starts to 0.2
               plain=lambda d, o: run_classification(d, o, aids=None, **NO_SPLIT),  # starts without the ab initio aids
               default_narrow=lambda d, o: run_default(d, o, dict(aids=narrow_aids(), **NO_SPLIT)),
               default_plain=lambda d, o: run_default(d, o, dict(aids=None, **NO_SPLIT)),
               ceiling_wide=lambda d, o: run_ceiling(d, o, band=wide_aids()["schedule"][-1][0]),
               split=lambda d, o: run_classification(d, o, aids=two_band_aids(), split=3),  # two-band starts, the move
               starts4=lambda d, o: run_classification(d, o, aids=two_band_aids(), restarts=4, split=3),  # two each way
               wide_split=lambda d, o: run_classification(d, o, aids=wide_aids(), split=3),  # the default: both to 0.25, the move
               wide=lambda d, o: run_classification(d, o, aids=wide_aids(), merge_below=0.21, **NO_SPLIT),  # one ρ at both bands
               beta_vae=lambda d, o: run_model(d, o, "beta_vae", False), harmony3d=lambda d, o: run_model(d, o, "harmony3d", False))


def wide_aids() -> dict:
    "The default aids with the starts' schedule on to 0.25 cycles/voxel (`classify.AB_INITIO_WIDE`)."
    from cryo_disent.analysis.classify import AB_INITIO_WIDE
    return AB_INITIO_WIDE


def two_band_aids() -> tuple:
    "One start with the aids to 0.2 cycles/voxel and one on to 0.25, in turn (`classify.AB_INITIO_TWO_BANDS`)."
    from cryo_disent.analysis.classify import AB_INITIO_TWO_BANDS
    return AB_INITIO_TWO_BANDS


def narrow_aids() -> dict:
    "`narrow`: every start with the aids to 0.2 cycles/voxel (`classify.AB_INITIO`), none on to 0.25."
    from cryo_disent.analysis.classify import AB_INITIO
    return AB_INITIO


def read_jsonl(p: Path) -> list:
    "The records of a JSON-lines file (none when it does not exist yet)."
    return [json.loads(l) for l in p.read_text().splitlines() if l.strip()] if p.exists() else []


def load(root: Path) -> list:
    root.mkdir(parents=True, exist_ok=True)
    return read_jsonl(seeded(root / "results.jsonl"))


@functools.lru_cache(maxsize=None)
def committed(name: str):
    "The committed results file `benchmarks/results/<name>` (read once)."
    return json.loads((HERE / "results" / name).read_text())


COMMITTED = {  # records file under ROOT: its records in the committed results (what a clean clone resumes from)
    "results.jsonl": lambda: committed("generalisation.json")["records"],
    "mcl.jsonl": lambda: committed("generalisation.json")["mcl"]["records"],
    **{f"{n}.jsonl": (lambda n=n: committed("generalisation.json")[n]) for n in ("pairs", "starts", "alone", "abinitio", "paths",
                                                                                "truth", "split")},
    "classify.jsonl": lambda: committed("bench_weights_classify.json"),
}


def seeded(p: Path) -> Path:
    "`p`, first written from the committed results (`COMMITTED`) when it does not exist: the runs on record are kept."
    if not p.exists() and p.name in COMMITTED:
        try: recs = COMMITTED[p.name]()
        except (OSError, KeyError): recs = []
        if recs: p.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return p


def resumed(a, name: str, key) -> tuple:
    "(records file `name` under `a.root`, the keys `key(record)` it holds already); torch's threads set to `a.threads`."
    root = Path(a.root)
    root.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(a.threads)
    return seeded(root / name), {key(r) for r in read_jsonl(seeded(root / name))}


def append_jsonl(p: Path, rec: dict):
    "Print one record and append it to the JSON-lines file `p` (what makes the commands resumable)."
    print(json.dumps(rec), flush=True)
    with open(p, "a") as f: f.write(json.dumps(rec) + "\n")


def traced_sets(root: Path):
    "(set, SNR, dataset, its `BandData` at the schedule's finest band) of each set whose EM is traced (`STARTS`)."
    from cryo_disent.analysis.averaging import dataset_wedge
    from cryo_disent.analysis.em import SCHEDULE, BandData
    from cryo_disent.data.datasets import VolumeDataset
    for name, snr in STARTS:
        ds = VolumeDataset.from_folder(simulate(root, name, snr))
        yield name, snr, ds, BandData(ds, dataset_wedge(ds), SCHEDULE[-1][0])


def cmd_run(a):
    root = Path(a.root)
    p, done = resumed(a, "results.jsonl", lambda r: (r["set"], r["snr"], r["method"]))
    for name, snr, method in itertools.product(a.sets.split(","), [float(s) for s in a.snrs.split(",")], a.methods.split(",")):
        if (name, snr, method) in done: continue
        data = simulate(root, name, snr)
        t0 = time.time()
        rec = RUNNERS[method](data, root / "runs" / f"{name}_snr{snr:g}_{method}")
        rec = dict(set=name, kind=SETS[name][0], snr=snr, method=method, **rec, wall_s=round(time.time() - t0, 1),
                   k_right=rec.get("k") == 4, date=str(date.today()), machine=f"{platform.machine()}, {torch.get_num_threads()} threads")
        append_jsonl(p, rec)


def cmd_split(a):
    """A split move tried after the default classification: its largest class in two at 0.25 cycles/voxel (a two-class
    EM on its particles alone, the default aids on to 0.25, several seeds), each split's held-out ρ there, and the ARI
    the set would reach if that split were kept (`classify.MERGE_BELOW` at 0.25 is 0.175)."""
    from cryo_disent.analysis.averaging import dataset_wedge
    from cryo_disent.analysis.classify import _Subset
    from cryo_disent.analysis.em import BandData
    from cryo_disent.analysis.split import split_in_two
    from cryo_disent.data.datasets import VolumeDataset
    from sklearn.metrics import adjusted_rand_score
    root = Path(a.root)
    p, done = resumed(a, "split.jsonl", lambda r: (r["set"], r["snr"]))
    for name, snr in itertools.product(a.sets.split(","), [float(s) for s in a.snrs.split(",")]):
        if (name, snr) in done: continue
        ds = VolumeDataset.from_folder(simulate(root, name, snr))
        y, t0 = ds.labels.numpy(), time.time()
        c = default_classification(ds, progress=False, aids=two_band_aids(), **NO_SPLIT)
        lab = c["labels"]
        rec = dict(set=name, snr=snr, k=int(c["k"]), ari=float(adjusted_rand_score(y, lab)), sizes=np.bincount(lab).tolist(),
                   wall_s=round(time.time() - t0, 1), trials=[])
        sel = torch.as_tensor(np.nonzero(lab == np.bincount(lab).argmax())[0])
        sub = _Subset(BandData(ds, dataset_wedge(ds), 0.25), sel)
        for seed in range(int(a.seeds)):
            t0 = time.time()
            two, rho = split_in_two(sub, seed=seed)
            new = lab.copy()
            new[sel.numpy()[two.numpy() == 1]] = lab.max() + 1
            rec["trials"].append(dict(seed=seed, separability=rho,
                                      sizes=torch.bincount(two, minlength=2).tolist(), ari_if_kept=float(adjusted_rand_score(y, new)),
                                      wall_s=round(time.time() - t0, 1)))
        append_jsonl(p, rec)


def cmd_mcl(a):
    "Harmony3D vs Harmony3D + MCL at the demo budget on every SNR 0.01 set, several seeds: latent ARI at K = 4 and at K by ICL."
    from cryo_disent.analysis.clustering import choose_k, cluster_latents
    from cryo_disent.app.demo import DEMO, DEMO_TRAINING
    from cryo_disent.app.pipelines import embed_folder, train_on_folder
    from sklearn.metrics import adjusted_rand_score
    root = Path(a.root)
    p, done = resumed(a, "mcl.jsonl", lambda r: (r["set"], r["model"], r["seed"]))
    for name, seed, model in itertools.product(a.sets.split(","), [int(s) for s in a.seeds.split(",")], ("harmony3d", "harmony3d_mcl")):
        if (name, model, seed) in done: continue
        data = simulate(root, name, 0.01)
        out = root / "mcl" / f"{name}_{model}_seed{seed}"
        t = DEMO_TRAINING[model]["full"]
        t0 = time.time()
        m = train_on_folder(data, out, model, dict(t["model_config"]), dict(epochs=t["epochs"], batch_size=DEMO["full"]["batch_size"],
                                                                             seed=seed, progress=False), resume=False)
        emb = embed_folder(m, data, out)
        z, y = emb["content"], emb["label"]
        k = choose_k(z, (2, 10), reduce="pca", n_components=4, seed=seed)["k"]
        rec = dict(set=name, kind=SETS[name][0], model=model, seed=seed, ari_k4=adjusted_rand_score(y, cluster_latents(z, 4, reduce="pca", n_components=4, seed=seed)),
                   ari_icl=adjusted_rand_score(y, cluster_latents(z, k, reduce="pca", n_components=4, seed=seed)), k_icl=k,
                   wall_s=round(time.time() - t0, 1))
        append_jsonl(p, rec)


PAIRS = (("S2", 0.01, 1, 3, 150), ("M4", 0.01, 1, 2, 150), ("S2", 0.01, 1, 3, 600), ("S2", 0.1, 1, 3, 150),
         ("M4", 0.1, 1, 2, 150), ("M1", 0.01, 0, 3, 150))  # set, SNR, two of its structures, particles per class


def _two_class_state(R: torch.Tensor, t: torch.Tensor, gamma: torch.Tensor | None = None) -> dict:
    "Two classes, both at poses `R` `[N, 3, 3]`, `t` `[N, 3]`; memberships `gamma` `[N, 2]` (None: random)."
    from cryo_disent.analysis.em import initial_state
    s = initial_state(len(R), 2, 0, gamma)
    s["R"], s["t"] = R[:, None, None].expand(-1, 2, 1, 3, 3).clone(), t[:, None, None].expand(-1, 2, 1, 3).clone().float()
    return s


def cmd_pairs(a):
    """Can EM split two structures from an uninformed start? A two-class EM on the particles of two of a set's structures,
    from random memberships (two seeds), from the poses of a one-class consensus, and from the true memberships and poses.
    `--band 0.25`: the random starts with the default aids on to 0.25 (`classify.AB_INITIO_WIDE`), the truth at 0.25."""
    from cryo_disent.analysis.averaging import dataset_wedge
    from cryo_disent.analysis.classify import _Subset, heldout_evidence, separability
    from cryo_disent.analysis.em import SCHEDULE, BandData, em
    from cryo_disent.analysis.split import split_in_two
    from cryo_disent.data.datasets import VolumeDataset
    from sklearn.metrics import adjusted_rand_score
    root = Path(a.root)
    p, done = resumed(a, "pairs.jsonl", lambda r: (r["set"], r["snr"], r["n"] // 2, r["start"], r.get("band", 0.2)))
    band, wide = float(a.band), float(a.band) > 0.2
    for name, snr, ia, ib, per_class in PAIRS:
        if name not in a.sets.split(","): continue
        starts = [s for s in ("random 0", "random 1", "consensus", "truth") if (name, snr, per_class, s, band) not in done
                  and not (wide and s == "consensus")]
        if not starts: continue
        ds = VolumeDataset.from_folder(simulate(root, name, snr, per_class))
        y = ds.labels.numpy()
        sel = torch.as_tensor(np.isin(y, [ia, ib])).nonzero()[:, 0]
        sub, ys = _Subset(BandData(ds, dataset_wedge(ds), band), sel), torch.as_tensor((y[sel.numpy()] == ib).astype(np.int64))
        for start in starts:
            t0 = time.time()
            if start.startswith("random") and wide: lab, rho = split_in_two(sub, seed=int(start[-1]))
            elif start.startswith("random"): s = em(sub, 2, seed=int(start[-1]))
            elif start == "consensus":
                c = em(sub, 1, seed=0, split=False)
                s = em(sub, 2, seed=0, state=_two_class_state(c["R"][:, 0, 0], c["t"][:, 0, 0]), schedule=((0.2, 8),))
            else: s = em(sub, 2, ((band, 8),) if wide else SCHEDULE, seed=0, temperature=1.0, state=_two_class_state(
                ds.rotations[sel], ds.shifts[sel], torch.nn.functional.one_hot(ys, 2).float()))
            if not (start.startswith("random") and wide):
                lab = s["gamma"].argmax(1)
                rho = float(np.nanmax(separability(heldout_evidence(sub, s), lab)))
            rec = dict(set=name, snr=snr, pair=[SETS[name][1][ia], SETS[name][1][ib]], start=start, n=len(sel), band=band,
                       ari=float(adjusted_rand_score(ys.numpy(), lab.numpy())), separability=rho, wall_s=round(time.time() - t0, 1))
            append_jsonl(p, rec)


STARTS = (("S1", 0.01), ("S3", 0.01), ("S4", 0.01))  # sets whose four-class EM is traced from several starts
START_COLUMNS = ("truth, schedule", "truth, finest band", "true memberships, random poses", "random",
                 "one E-step from the truth")


def cmd_starts(a):
    """Is it the score or the search? The four-class EM of a whole set from the truth (memberships and poses) over the
    default schedule and at its finest band only, from the true memberships with random poses (the default schedule),
    from random memberships, and one E-step against references made from the truth: ARI and log-likelihood at the end."""
    from cryo_disent.analysis.em import SCHEDULE, class_references, em, expectation, initial_state
    from sklearn.metrics import adjusted_rand_score
    p, done = resumed(a, "starts.jsonl", lambda r: (r["set"], r["snr"], r["start"]))
    top = SCHEDULE[-1][0]
    for name, snr, ds, data in traced_sets(Path(a.root)):
        y = torch.as_tensor(ds.labels.numpy())
        truth = initial_state(len(y), 4, 0, torch.nn.functional.one_hot(y, 4).float())
        truth["R"] = ds.rotations.float()[:, None, None].expand(-1, 4, 1, 3, 3).clone()
        truth["t"] = ds.shifts.float()[:, None, None].expand(-1, 4, 1, 3).clone()
        for start in START_COLUMNS:
            if (name, snr, start) in done: continue
            t0 = time.time()
            if start == "random": s = em(data, 4, seed=0)
            elif start == "true memberships, random poses":
                s = em(data, 4, temperature=1.0, state=initial_state(len(y), 4, 0, truth["gamma"]), split=False)
            elif start.startswith("truth"):
                s = em(data, 4, SCHEDULE if start.endswith("schedule") else ((top, 8),), temperature=1.0, state=truth, split=False)
            else: s = dict(lse=expectation(data, top, class_references(data, top, truth))["lse"], loglik=None)
            lab = (s["gamma"] if "gamma" in s else s["lse"]).argmax(1)
            rec = dict(set=name, snr=snr, start=start, ari=float(adjusted_rand_score(y.numpy(), lab.numpy())),
                       loglik=s["loglik"], wall_s=round(time.time() - t0, 1))
            append_jsonl(p, rec)


def cmd_alone(a):
    """Can one class be found ab initio at all? Each true class's particles alone, one-class EM from their true poses (at
    the finest band) and from random poses (two seeds, the default schedule): log-likelihood at the end, and the share of
    particle pairs whose relative pose one particle's map finds within 30° (the pairwise alignment a synchronisation
    would need)."""
    from cryo_disent.analysis.classify import _Subset
    from cryo_disent.analysis.em import SCHEDULE, em, initial_state
    from cryo_disent.analysis.search import global_search, shift_grid, so3_grid
    p, done = resumed(a, "alone.jsonl", lambda r: (r["set"], r["snr"], r["class"]))
    top = SCHEDULE[-1][0]
    for name, snr, ds, data in traced_sets(Path(a.root)):
        y = ds.labels.numpy()
        for c in range(4):
            if (name, snr, c) in done: continue
            t0, sel = time.time(), torch.as_tensor(np.nonzero(y == c)[0])
            sub, Rt = _Subset(data, sel), ds.rotations[sel].float()
            st = initial_state(len(sel), 1, 0)
            st["R"], st["t"] = Rt[:, None, None].clone(), ds.shifts[sel].float()[:, None, None].clone()
            truth = em(sub, 1, ((top, 6),), temperature=1.0, state=st, split=False)["loglik"]
            rand = [em(sub, 1, SCHEDULE, seed=sd, split=False)["loglik"] for sd in (0, 1)]
            b, grid, X, M, inv = sub.at(0.15)  # pairwise: every particle against every particle's own map
            n = len(X)
            G = grid.solve(*grid.backproject(X, M, torch.eye(3)[None].expand(n, 3, 3), torch.ones(n), torch.arange(n), n), 1.0)
            rots = so3_grid(800)
            o = [global_search(grid, G[j:j + 16], X, M, inv, rots, shift_grid(1.0, 1.0), top=1) for j in range(0, n, 16)]
            Rij = rots[torch.cat([q["rot"][:, :, 0] for q in o], 1)]  # [i, j]: particle i ≈ map j turned by R_ij
            D = Rij @ (Rt[:, None] @ Rt[None].transpose(-1, -2)).transpose(-1, -2)
            ang = torch.rad2deg(torch.arccos(((D.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1)))
            rec = dict(set=name, snr=snr, **{"class": c}, structure=SETS[name][1][c], n=len(sel), loglik_truth=truth,
                       loglik_random=rand, pairs_within_30deg=float((ang[~torch.eye(n, dtype=bool)] < 30).float().mean()),
                       wall_s=round(time.time() - t0, 1))
            append_jsonl(p, rec)


WAYS = ("plain", "aided")  # one-class EM from random poses: plain, or with `classify.AB_INITIO`


def cmd_abinitio(a):
    """Does a class form ab initio, plain or with the EM's ab initio aids? Each true class's particles alone, one-class
    EM from random poses (seeds `--seeds`) each way (`WAYS`), then two plain iterations at the finest band: log-likelihood
    against the true poses' (the same two iterations), and the classwise pose error (frame aligned, symmetry-blind)."""
    from cryo_disent.analysis.alignment import pose_error
    from cryo_disent.analysis.classify import AB_INITIO, _Subset
    from cryo_disent.analysis.em import SCHEDULE, em, initial_state
    p, done = resumed(a, "abinitio.jsonl", lambda r: (r["set"], r["snr"], r["class"], r["way"], r["seed"]))
    top, last = SCHEDULE[-1][0], lambda sub, st: em(sub, 1, ((SCHEDULE[-1][0], 2),), temperature=1.0, state=st, split=False)
    for name, snr, ds, data in traced_sets(Path(a.root)):
        y = ds.labels.numpy()
        for c in range(4):
            sel = torch.as_tensor(np.nonzero(y == c)[0])
            sub, Rt = _Subset(data, sel), ds.rotations[sel].float()
            st = initial_state(len(sel), 1, 0)
            st["R"], st["t"] = Rt[:, None, None].clone(), ds.shifts[sel].float()[:, None, None].clone()
            truth = None
            for way, seed in itertools.product(WAYS, map(int, a.seeds.split(","))):
                if (name, snr, c, way, seed) in done: continue
                truth = truth if truth is not None else last(sub, st)["loglik"]
                t0, kw = time.time(), dict(AB_INITIO if way == "aided" else {})
                s = em(sub, 1, kw.pop("schedule", SCHEDULE), seed=seed, split=False, **kw)
                wall, s = time.time() - t0, last(sub, s)
                err = min(pose_error(s["R"][:, 0, 0], Rt, side=sd)["median"] for sd in ("right", "left"))
                append_jsonl(p, dict(set=name, snr=snr, **{"class": c}, structure=SETS[name][1][c], way=way, seed=seed,
                                     loglik=s["loglik"], loglik_truth=truth, pose_error_deg=err, wall_s=round(wall, 1)))


PATH_OPTIONS = dict(wide=lambda: dict(aids=wide_aids()), narrow=lambda: dict(aids=narrow_aids()),
                    classification=lambda: dict(aids=two_band_aids()))  # `paths`: classify's options per method
THRESHOLDS = (0.1, 0.15, 0.175, 0.21, 0.25)  # `merge_below` values read off the recorded paths


def cmd_paths(a):
    """Where do copies and different structures fall on ρ? The classification of a set (`--methods`: `wide`,
    `narrow` or `classification`) with the merging run on down to K = 1 (`merge_below=inf`, `path=True`): each state it visits from
    `k_max` down to 3 classes, with its classes' composition (particles of each true structure), ARI and ρ."""
    from cryo_disent.analysis.classify import classify
    from cryo_disent.data.datasets import VolumeDataset
    from sklearn.metrics import adjusted_rand_score
    key = lambda r: (r["set"], r["snr"], r["method"], r.get("physics", "seed004"), r.get("way", "wedge"))
    p, done = resumed(a, "paths.jsonl", key)
    way = a.way or TRUTH_WAYS[a.physics][0]
    (Path(a.root) / "paths").mkdir(exist_ok=True)
    for name, snr, method in itertools.product(a.sets.split(","), [float(s) for s in a.snrs.split(",")], a.methods.split(",")):
        if (name, snr, method, a.physics, way) in done: continue
        ds = VolumeDataset.from_folder(physics_data(Path(a.root), name, snr, a.physics))
        y, t0 = ds.labels.numpy(), time.time()
        c = classify(ds, k=None, seed=0, progress=True, merge_below=math.inf, path=True, **read_way(ds, way),
                     **{**NO_SPLIT, **PATH_OPTIONS[method]()})  # the merging alone, on down to one class
        np.savez(Path(a.root) / "paths" / f"{name}_snr{snr:g}_{method}_{a.physics}_{way}.npz", truth=y, band=c["band"],
                 **{f"{x}{s['k']}": s[x] for s in c["path"] for x in ("labels", "evidence")})
        states = [dict(k=s["k"], composition=[np.bincount(y[s["labels"] == k], minlength=4).tolist() for k in range(s["k"])],
                       ari=float(adjusted_rand_score(y, s["labels"])), separability=s["separability"]) for s in c["path"] if s["k"] >= 3]
        extra = {} if a.physics == "seed004" else dict(physics=a.physics, way=way)
        append_jsonl(p, dict(set=name, snr=snr, method=method, **extra, band=c["band"], states=states, wall_s=round(time.time() - t0, 1),
                             date=str(date.today()), machine=f"{platform.machine()}, {torch.get_num_threads()} threads"))


TRUTH_WAYS = dict(seed004=("wedge",), seed004_tomo=("weights", "global_wedge"))  # `truth`: the data's ways per physics


def read_way(ds, way: str) -> dict:
    "`classify`'s `mwa` and `transfer` for reading the data `way`: its wedge, each particle's transfer, one global wedge."
    from cryo_disent.analysis.averaging import dataset_wedge
    return dict(weights=dict(mwa=None, transfer="auto"), global_wedge=dict(mwa=float(ds.table.mwa.mean()), transfer=None),
                wedge=dict(mwa=dataset_wedge(ds), transfer=None))[way]


def physics_data(root: Path, name: str, snr: float, physics: str) -> Path:
    "Set `name` at `snr` simulated with the generalisation benchmark's physics or `seed004_tomo`'s (`bench_weights`)."
    sys.path.insert(0, str(HERE))
    from bench_weights import set_data
    return simulate(root, name, snr) if physics == "seed004" else set_data(root, name, snr)


def truth_case(ds, band: float, way: str, seed: int = 0) -> tuple:
    """The separability criterion at the truth: every particle in its true class at its true pose, `heldout_evidence` at
    `band` (references from the other half), read the ways the classification reads the data (`way`: its wedge,
    each particle's own transfer, or one global wedge at the set's mean angle); ρ with each particle's information
    (`separability`, as the classification reads it) and without (`unscaled`). (record, held-out evidence `[N, 4]`,
    information `[N]`)."""
    from cryo_disent.analysis.classify import heldout_evidence, particle_information, separability
    from cryo_disent.analysis.em import BandData, class_references
    y = torch.as_tensor(ds.labels.numpy()).long()
    kw = read_way(ds, way)
    bd = BandData(ds, kw["mwa"], band, transfer=kw["transfer"])
    K = int(y.max()) + 1
    st = dict(gamma=torch.nn.functional.one_hot(y, K).float(), w=torch.ones(len(y), K, 1), band=band,
              R=ds.rotations.float()[:, None, None].expand(-1, K, 1, 3, 3).contiguous(),
              t=ds.shifts.float()[:, None, None].expand(-1, K, 1, 3).contiguous(), lse=torch.zeros(len(y), K))
    t0 = time.time()
    lse = heldout_evidence(bd, st, seed=seed).double()
    q = particle_information(bd, dict(st, references=class_references(bd, band, st)))
    yn, L = y.numpy(), lse.numpy()
    own = L[np.arange(len(yn)), yn]
    gap = np.full((K, K), np.nan)
    for a_ in range(K):
        for b_ in range(K):
            if a_ != b_: gap[a_, b_] = float(np.median(own[yn == a_] - L[yn == a_, b_]))
    rec = dict(band=band, way=way, accuracy=float((L.argmax(1) == yn).mean()),
               separability=np.round(separability(L, yn, q), 3).tolist(),
               unscaled=np.round(separability(L, yn), 3).tolist(), gap=np.round(gap, 1).tolist(),
               own=[round(float(np.median(own[yn == k])), 1) for k in range(K)], wall_s=round(time.time() - t0, 1))
    return rec, L, q


def cmd_truth(a):
    """How separable is each set's truth by the classification's criterion? ρ (`classify.separability`) of the true
    classes at their true poses, held out, at each band, the ways the data can be read; the held-out evidence is kept
    with the labels as ROOT/truth/SET_snrSNR_PHYSICS_WAY_BAND.npz for other statistics."""
    from cryo_disent.data.datasets import VolumeDataset
    p, done = resumed(a, "truth.jsonl", lambda r: (r["set"], r["snr"], r["physics"], r["way"], r["band"]))
    (Path(a.root) / "truth").mkdir(exist_ok=True)
    for name, snr, band in itertools.product(a.sets.split(","), [float(s) for s in a.snrs.split(",")],
                                             [float(b) for b in a.bands.split(",")]):
        ds = VolumeDataset.from_folder(physics_data(Path(a.root), name, snr, a.physics))
        for way in TRUTH_WAYS[a.physics]:
            if (name, snr, a.physics, way, band) in done: continue
            rec, L, q = truth_case(ds, band, way)
            np.savez(Path(a.root) / "truth" / f"{name}_snr{snr:g}_{a.physics}_{way}_{band:g}.npz", evidence=L,
                     labels=ds.labels.numpy(), information=q)
            append_jsonl(p, dict(set=name, snr=snr, physics=a.physics, **rec, names=list(SETS[name][1]),
                                 date=str(date.today()), machine=f"{platform.machine()}, {torch.get_num_threads()} threads"))


def path_stop(rec: dict, threshold: float):
    """The state a classification with `merge_below=threshold` ends at (None: below the recorded states): the first with
    no class under 2 particles and no ρ under the threshold, `classify._merge_inseparable`'s rule read off a record."""
    for s in rec["states"]:
        D = np.array(s["separability"], float)
        if min(sum(c) for c in s["composition"]) >= 2 and np.nanmin(D) >= threshold: return s
    return None


def paths_table(recs: list) -> str:
    rows = ["| set | SNR | method | per K: ARI (least ρ; highest ρ between classes of one structure) | ends at, by merge_below "
            + " / ".join(f"{t:g}" for t in THRESHOLDS) + " |", "|---|---|---|---|---|"]
    for r in sorted(recs, key=lambda r: (r["method"], -r["snr"], list(SETS).index(r["set"]))):
        def cell(s):
            D, maj = np.array(s["separability"], float), np.argmax(s["composition"], 1)
            same = [D[i, j] for i in range(s["k"]) for j in range(i + 1, s["k"]) if maj[i] == maj[j] and np.isfinite(D[i, j])]
            return f"{s['k']}: {s['ari']:.2f} ({np.nanmin(D):.2f}; {f'{max(same):.2f}' if same else '—'})"
        ends = [path_stop(r, t) for t in THRESHOLDS]
        how = r["method"] + (f", {r['way'].replace('_', ' ')}" if "way" in r else "")
        rows.append(f"| {r['set']} | {r['snr']:g} | {how} | " + ", ".join(cell(s) for s in r["states"]) + " | "
                    + " / ".join("≤ 2" if e is None else f"K {e['k']}: {e['ari']:.2f}" for e in ends) + " |")
    return "\n".join(rows)


def truth_table(recs: list) -> str:
    """Per set and SNR: the least ρ between true classes at their true poses (held out) at each band, each way the data
    were read (unscaled: without each particle's information), the pair it falls on, and the accuracy of the evidence."""
    g = {}
    for r in recs:
        g.setdefault((r.get("physics", "seed004"), r["snr"], r["set"]), {})[(r["way"], r["band"])] = r
    def least(r, key="separability"):
        D = np.array(r[key], float)
        i, j = np.unravel_index(np.nanargmin(D), D.shape)
        return float(D[i, j]), (i, j)
    rows = []
    for phys in sorted({k[0] for k in g}):
        ways = TRUTH_WAYS[phys]
        cols = [(w, b) for w in ways for b in sorted({k[1] for c in g.values() for k in c})]
        how = dict(seed004="the generalisation benchmark's physics, through its one wedge",
                   seed004_tomo="`seed004_tomo` physics, through each particle's transfer and through one global wedge")[phys]
        rows += [f"\n{how}:\n", "| set | SNR | " + " | ".join(
            f"least ρ, {w.replace('_', ' ')} at {b:g}" + (" (unscaled)" if w == "weights" else "") for w, b in cols)
            + " | its pair, at the finest band | accuracy, each column |", "|---|---|" + "---|" * (len(cols) + 2)]
        for (ph, snr, name), c in sorted(g.items(), key=lambda kv: (kv[0][0], -kv[0][1], list(SETS).index(kv[0][2]))):
            if ph != phys or not all(k in c for k in cols): continue
            cell = lambda r: f"{least(r)[0]:.2f}" + (f" ({least(r, 'unscaled')[0]:.2f})" if r["way"] == "weights" else "")
            last = c[cols[len(cols) // len(ways) - 1]]
            i, j = least(last)[1]
            pair = f"{last['names'][i].split('_')[1]} / {last['names'][j].split('_')[1]}"
            rows.append(f"| {name} | {snr:g} | " + " | ".join(cell(c[k]) for k in cols) + f" | {pair} | "
                        + " / ".join(f"{c[k]['accuracy']:.2f}" for k in cols) + " |")
    return "\n".join(rows).lstrip("\n")


def abinitio_table(recs: list) -> str:
    ways = WAYS
    rows = ["| set | SNR | structure | " + " | ".join(f"{w}: seeds found (< 15°; log-lik ≥ truth's − 100) / run, best log-lik − "
                                                       "truth's" for w in ways) + " |", "|---|---|---|" + "---|" * len(ways)]
    for key in dict.fromkeys((r["set"], r["snr"], r["structure"]) for r in recs):
        g = [r for r in recs if (r["set"], r["snr"], r["structure"]) == key]
        f = lambda w: (lambda q: "—" if not q else f"{sum(r['pose_error_deg'] < 15 for r in q)}; "
                       f"{sum(r['loglik'] >= r['loglik_truth'] - 100 for r in q)} / {len(q)}, "
                       f"{max(r['loglik'] for r in q) - q[0]['loglik_truth']:+.0f}")([r for r in g if r["way"] == w])
        rows.append(f"| {key[0]} | {key[1]:g} | {key[2]} | " + " | ".join(f(w) for w in ways) + " |")
    return "\n".join(rows)


def alone_table(recs: list) -> str:
    rows = ["| set | SNR | structure | log-lik from true poses | from random poses (2 seeds) | pairs aligned within 30° |",
            "|---|---|---|---|---|---|"]
    rows += [f"| {r['set']} | {r['snr']:g} | {r['structure']} | {r['loglik_truth']:.0f} | "
             f"{', '.join(f'{v:.0f}' for v in r['loglik_random'])} | {100 * r['pairs_within_30deg']:.1f} % |" for r in recs]
    return "\n".join(rows)


def starts_table(recs: list) -> str:
    cols = START_COLUMNS
    rows = ["| set | SNR | " + " | ".join(f"from {c}: ARI (log-lik)" if c != cols[-1] else f"{c}: ARI" for c in cols) + " |",
            "|---|---|" + "---|" * len(cols)]
    for name, snr in STARTS:
        g = {r["start"]: r for r in recs if r["set"] == name and r["snr"] == snr}
        if not g: continue
        f = lambda k: "—" if k not in g else f"{g[k]['ari']:.2f}" + ("" if g[k]["loglik"] is None else f" ({g[k]['loglik']:.0f})")
        rows.append(f"| {name} | {snr:g} | " + " | ".join(f(c) for c in cols) + " |")
    return "\n".join(rows)


def pairs_table(recs: list) -> str:
    rows = ["| set | SNR | structures | particles | band | from random (2 seeds): ARI, ρ | from a consensus's poses | from the truth |",
            "|---|---|---|---|---|---|---|---|"]
    for (name, snr, ia, ib, per_class), band in itertools.product(PAIRS, (0.2, 0.25)):
        g = {r["start"]: r for r in recs if r["set"] == name and r["snr"] == snr and r["n"] == 2 * per_class
             and r.get("band", 0.2) == band}
        if not g: continue
        f = lambda k: f"{g[k]['ari']:.2f}, {g[k]['separability']:.2f}" if k in g else "—"
        rows.append(f"| {name} | {snr:g} | {' / '.join(next(iter(g.values()))['pair'])} | 2 × {per_class} | {band:g} | "
                    f"{f('random 0')}; {f('random 1')} | {f('consensus')} | {f('truth')} |")
    return "\n".join(rows)


def _fmt(v, d=2): return "—" if v is None else (f"{v:.{d}f}" if isinstance(v, float) else str(v))


def summary(records: list) -> dict:
    "Per SNR and method: mean, worst (and where) ARI, mean accuracy, fraction with K = 4, pose error, time; the default's ratio to the ceiling."
    out = {}
    for snr, method in sorted({(r["snr"], r["method"]) for r in records}, key=lambda t: (-t[0], METHODS.index(t[1]))):
        rs = [r for r in records if r["snr"] == snr and r["method"] == method]
        ari = [r["ari"] for r in rs]
        same = [r["pose_error_deg"] for r in rs if r["kind"] == "same-size" and r["pose_error_deg"] is not None]
        w = int(np.argmin(ari))
        out[f"snr{snr:g}/{method}"] = dict(
            n_sets=len(rs), mean_ari=float(np.mean(ari)), worst_ari=float(ari[w]), worst_set=rs[w]["set"],
            mean_accuracy=float(np.mean([r["accuracy"] for r in rs])), k_right=float(np.mean([r["k_right"] for r in rs])),
            same_size_pose_error_deg_median=float(np.median(same)) if same else None,
            same_size_pose_error_deg_worst=float(np.max(same)) if same else None,
            mean_wall_s=float(np.mean([r["wall_s"] for r in rs])), max_wall_s=float(np.max([r["wall_s"] for r in rs])))
        own = CEILING_OF.get(method, "ceiling")  # the matched filter at the method's finest band
        ceil = {r["set"]: r["ari"] for r in records if r["snr"] == snr and r["method"] == own}
        if not method.startswith("ceiling") and ceil and all(r["set"] in ceil for r in rs):
            out[f"snr{snr:g}/{method}"].update(mean_ceiling_ari=float(np.mean([ceil[r["set"]] for r in rs])),
                                                mean_of_ceiling=float(np.mean(ari)) / max(1e-9, float(np.mean([ceil[r["set"]] for r in rs]))),
                                                sets_at_90pct_ceiling=float(np.mean([r["ari"] >= 0.9 * ceil[r["set"]] for r in rs])))
    return out


def table(records: list) -> str:
    "One row per set and SNR: the ceiling, the classification (ARI, K, pose error, AUC-FSC, time), the whole default pipeline, the models."
    by = {(r["set"], r["snr"], r["method"]): r for r in records}
    rows = ["| set | kind | SNR | ceiling ARI, at 0.2 / 0.25 c/voxel | **classification ARI** (K) | pose error ° | AUC-FSC | time s "
            "| one start to 0.2, one to 0.25: ARI (K), time s, with / without the split move | both starts to 0.2: ARI (K), time s "
            "| plain starts: ARI (K), pose error °, time s | default pipeline ARI (K), time s: its starts / both to 0.2 "
            "| both starts to 0.25, no split move, ρ 0.21: ARI (K), time s "
            "| β-VAE ARI (K) | Harmony3D ARI (K) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    ak = lambda r: "—" if not r else f"{_fmt(r['ari'])} ({r['k']})"
    akt = lambda r: f"{ak(r)}{'' if not r else ', ' + _fmt(r['wall_s'], 0)}"
    for snr in SNRS:
        for name in SETS:
            g = lambda m: by.get((name, snr, m), {})
            c = g("wide_split")  # the default classification: every start on to 0.25, the split move after the merging
            if not any(g(m) for m in METHODS): continue
            rows.append(f"| {name} | {SETS[name][0]} | {snr:g} | {_fmt(g('ceiling').get('ari'))} / {_fmt(g('ceiling_wide').get('ari'))} | "
                        f"**{ak(c)}** | {_fmt(c.get('pose_error_deg'), 1)} | {_fmt(c.get('auc_fsc'))} | {_fmt(c.get('wall_s'), 0)} | "
                        f"{akt(g('split'))} / {akt(g('classification'))} | {akt(g('narrow'))} | "
                        f"{ak(g('plain'))}{'' if not g('plain') else ', ' + _fmt(g('plain')['pose_error_deg'], 1) + ', ' + _fmt(g('plain')['wall_s'], 0)} | "
                        f"{akt(g('default'))} / {akt(g('default_narrow'))} | {akt(g('wide'))} | "
                        f"{ak(g('beta_vae'))} | {ak(g('harmony3d'))} |")
    return "\n".join(rows)


def summary_table(summ: dict) -> str:
    "Per SNR and method: sets run, mean and worst ARI, K right, same-size pose error, time, and the share of the ceiling."
    rows = ["| SNR / method | sets | mean ARI | worst ARI (set) | K = 4 | same-size pose error ° (median, worst) | mean ARI / ceiling's | mean time s |",
            "|---|---|---|---|---|---|---|---|"]
    for key, v in summ.items():
        rows.append(f"| {key} | {v['n_sets']} | {v['mean_ari']:.3f} | {v['worst_ari']:.3f} ({v['worst_set']}) | {v['k_right']:.0%} | "
                    f"{_fmt(v['same_size_pose_error_deg_median'], 1)}, {_fmt(v['same_size_pose_error_deg_worst'], 1)} | "
                    f"{_fmt(v.get('mean_of_ceiling'))} | {v['mean_wall_s']:.0f} |")
    return "\n".join(rows)


def mcl_line(mcl: list) -> str:
    "One line: the MCL's gain in latent ARI at K = 4 over seed-paired runs (mean ± sd), both models' means, and per set."
    pair = {(r["set"], r["seed"], r["model"]): r["ari_k4"] for r in mcl}
    g = {(s_, sd): pair[(s_, sd, "harmony3d_mcl")] - a for (s_, sd, m), a in pair.items() if m == "harmony3d" and (s_, sd, "harmony3d_mcl") in pair}
    if not g: return ""
    per = {n: np.mean([v for (s_, _), v in g.items() if s_ == n]) for n in SETS if any(s_ == n for s_, _ in g)}
    m = {k: np.mean([pair[(s_, sd, k)] for s_, sd in g]) for k in ("harmony3d", "harmony3d_mcl")}
    return (f"{len(g)} seed-paired runs on {len(per)} sets: latent ARI at K = 4, Harmony3D {m['harmony3d']:.2f}, + MCL "
            f"{m['harmony3d_mcl']:.2f}; gain {np.mean(list(g.values())):+.3f} ± {np.std(list(g.values())):.3f} (per set: "
            + ", ".join(f"{n} {v:+.2f}" for n, v in per.items()) + ").")


def fill(md: Path, name: str, body: str):
    "Put `body` between `<!-- name:begin -->` and `<!-- name:end -->` in the Markdown file `md` (when both are there)."
    text, b, e = md.read_text(), f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    if b in text and e in text: md.write_text(text[:text.index(b) + len(b)] + "\n" + body + "\n" + text[text.index(e):])


def split_table(recs: list) -> str:
    from cryo_disent.analysis.classify import MERGE_BELOW, merge_threshold
    below = merge_threshold(MERGE_BELOW, 0.25)
    rows = ["| set | SNR | classification: ARI (K), class sizes | largest class in two at 0.25, per seed: ρ, sizes, ARI if kept | "
            f"best ρ ≥ {below:g} kept: ARI (K) |", "|---|---|---|---|---|"]
    for r in recs:
        tr = ["{:.3f}, {}/{}, {:.2f}".format(t["separability"], *t["sizes"], t["ari_if_kept"]) for t in r["trials"]]
        best = max(r["trials"], key=lambda t: t["separability"])
        kept = f"{best['ari_if_kept']:.2f} ({r['k'] + 1})" if best["separability"] >= below else f"{r['ari']:.2f} ({r['k']})"
        rows.append(f"| {r['set']} | {r['snr']:g} | {r['ari']:.2f} ({r['k']}), {' '.join(map(str, r['sizes']))} | "
                    f"{'; '.join(tr)} | {kept} |")
    return "\n".join(rows)


SECTIONS = {"split": split_table, "pairs": pairs_table, "starts": starts_table, "abinitio": abinitio_table,
            "alone": alone_table, "paths": paths_table, "truth": truth_table}  # jsonl → table


def cmd_report(a):
    root = Path(a.root)
    records = load(root)
    res = dict(benchmark="bench_generalisation", command="python benchmarks/bench_generalisation.py run", sets={k: list(v[1]) for k, v in SETS.items()},
               kinds={k: v[0] for k, v in SETS.items()}, records=records, summary=summary(records))
    mcl = read_jsonl(seeded(root / "mcl.jsonl"))
    if mcl:
        pair = {(r["set"], r["seed"], r["model"]): r for r in mcl}
        gains = [pair[(s_, sd, "harmony3d_mcl")]["ari_k4"] - pair[(s_, sd, "harmony3d")]["ari_k4"]
                 for s_, sd, m in pair if m == "harmony3d" and (s_, sd, "harmony3d_mcl") in pair]
        res["mcl"] = dict(records=mcl, gain_ari_k4_mean=float(np.mean(gains)), gain_ari_k4_std=float(np.std(gains)), n_pairs=len(gains),
                          **{f"{m}_ari_k4_mean": float(np.mean([r["ari_k4"] for r in mcl if r["model"] == m])) for m in ("harmony3d", "harmony3d_mcl")})
    res.update({n: recs for n in SECTIONS if (recs := read_jsonl(seeded(root / f"{n}.jsonl")))})
    out = HERE / "results" / "generalisation.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(res, indent=1) + "\n")
    md = HERE / "README.md"
    head = f"Last run: {records[-1]['date']}, {records[-1]['machine']} (CPU).\n\n" if records else ""
    fill(md, "generalisation", head + table(records) + "\n\n" + summary_table(res["summary"]))
    if mcl: fill(md, "mcl", mcl_line(mcl))
    for n, tab in SECTIONS.items():
        if n in res: fill(md, n, tab(res[n]))
    print(table(records))
    print(json.dumps(res["summary"], indent=1))
    if mcl: print(mcl_line(mcl))


def cmd_sets(a):
    drawn = draw_sets()
    r = radii()
    for n, (kind, c) in drawn.items(): print(f"{n:8s} {kind:9s} " + ", ".join(f"{s} ({r[s]:.0f} Å)" for s in c))
    if drawn != SETS: sys.exit("SETS differs from draw_sets(): paste the sets above into SETS")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sets"); s.set_defaults(fn=cmd_sets)
    s = sub.add_parser("run"); s.set_defaults(fn=cmd_run)
    s.add_argument("--root", default="runs/bench_gen"); s.add_argument("--sets", default=",".join(SETS))
    s.add_argument("--snrs", default=",".join(f"{v:g}" for v in SNRS)); s.add_argument("--methods", default=",".join(METHODS))
    s.add_argument("--threads", type=int, default=2)
    s = sub.add_parser("mcl"); s.set_defaults(fn=cmd_mcl)
    s.add_argument("--root", default="runs/bench_gen"); s.add_argument("--sets", default=",".join(SETS))
    s.add_argument("--seeds", default="0,1,2"); s.add_argument("--threads", type=int, default=2)
    s = sub.add_parser("split"); s.set_defaults(fn=cmd_split)
    s.add_argument("--root", default="runs/bench_gen"); s.add_argument("--sets", default="M1,M4")
    s.add_argument("--snrs", default="0.01"); s.add_argument("--seeds", default="3"); s.add_argument("--threads", type=int, default=1)
    s = sub.add_parser("pairs"); s.set_defaults(fn=cmd_pairs)
    s.add_argument("--sets", default=",".join(sorted({p[0] for p in PAIRS})))
    s.add_argument("--band", default="0.2", choices=["0.2", "0.25"])
    s.add_argument("--root", default="runs/bench_gen"); s.add_argument("--threads", type=int, default=2)
    s = sub.add_parser("starts"); s.set_defaults(fn=cmd_starts)
    s.add_argument("--root", default="runs/bench_gen"); s.add_argument("--threads", type=int, default=2)
    s = sub.add_parser("alone"); s.set_defaults(fn=cmd_alone)
    s.add_argument("--root", default="runs/bench_gen"); s.add_argument("--threads", type=int, default=2)
    s = sub.add_parser("abinitio"); s.set_defaults(fn=cmd_abinitio)
    s.add_argument("--root", default="runs/bench_gen"); s.add_argument("--seeds", default="0,1,2,3")
    s.add_argument("--threads", type=int, default=2)
    s = sub.add_parser("paths"); s.set_defaults(fn=cmd_paths)
    s.add_argument("--root", default="runs/bench_gen"); s.add_argument("--sets", default=",".join(SETS))
    s.add_argument("--snrs", default=",".join(f"{v:g}" for v in SNRS)); s.add_argument("--methods", default="wide")
    s.add_argument("--threads", type=int, default=2); s.add_argument("--physics", default="seed004", choices=sorted(TRUTH_WAYS))
    s.add_argument("--way", default=None, help="how the data are read: wedge (seed004), weights or global_wedge (seed004_tomo)")
    s = sub.add_parser("truth"); s.set_defaults(fn=cmd_truth)
    s.add_argument("--root", default="runs/bench_gen"); s.add_argument("--sets", default=",".join(SETS))
    s.add_argument("--snrs", default=",".join(f"{v:g}" for v in SNRS)); s.add_argument("--bands", default="0.2,0.25")
    s.add_argument("--physics", default="seed004", choices=sorted(TRUTH_WAYS)); s.add_argument("--threads", type=int, default=1)
    s = sub.add_parser("report"); s.set_defaults(fn=cmd_report)
    s.add_argument("--root", default="runs/bench_gen")
    a = ap.parse_args(argv)
    a.fn(a)


if __name__ == "__main__":
    main()
