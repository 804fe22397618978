"""Pose error per class at each step of the refinement (encoder, oracle references, decoded templates, class averages).

    PYTHONPATH=$PWD python benchmarks/refine_steps.py runs/h3d_demo

`RUN` is a clustered harmony run of `make demo`'s data (run_pipeline(..., refine=0) or an older run); the point groups
of the shipped structures are placed in each reference with `refine.symmetry_frame`.
"""
import sys
import time
import numpy as np
import torch
from cryo_disent.alignment import pose_error, shift_error
from cryo_disent.averaging import class_averages, dataset_wedge
from cryo_disent.evaluate import templates_from_clusters
from cryo_disent.models.base import load_model
from cryo_disent.pipelines import _symmetry, load_references, open_run_data
from cryo_disent.refine import reference_symmetries, refine_poses


def report(tag, R, t, emb, y, sym):
    cells = []
    for c in np.unique(y[y >= 0]).tolist():
        s = y == c
        pe = pose_error(R[s], emb["true_rotation"][s], symmetry=sym.get(c, "C1"))
        se = shift_error(R[s], t[s], emb["true_shift"][s])
        cells.append(f"class {c}: {pe['median']:.1f}° / {se['median']:.2f} vox")
    print(f"{tag:>28}: " + " | ".join(cells), flush=True)


def main(run):
    ds = open_run_data(run)
    emb = dict(np.load(f"{run}/embedding.npz"))
    y, pred = emb["label"], emb["cluster"]
    refs = load_references(ds.path)
    names = _symmetry(ds.path, None)
    sym = reference_symmetries(names, refs) if isinstance(names, dict) else {}
    mwa = dataset_wedge(ds)
    R0 = emb.get("model_rotation", emb["rotation"])
    t0 = emb.get("model_translation", emb["translation"])
    report("encoder", torch.as_tensor(R0), torch.as_tensor(t0), emb, y, sym)
    clock = time.time()
    r = refine_poses(ds, -refs, y, mwa)  # simulated particles have the opposite contrast of the references
    report(f"oracle ({time.time() - clock:.0f} s)", r["rotation"], r["translation"], emb, y, sym)
    ids = np.unique(pred)
    col = np.searchsorted(ids, pred)
    r = refine_poses(ds, templates_from_clusters(load_model(f"{run}/model.pt"), emb["content"], pred)[:, 0], col, mwa)
    report("decoded templates", r["rotation"], r["translation"], emb, y, sym)
    for it in range(2):
        avg = class_averages(ds, pred, r["rotation"], r["translation"], wedge=mwa)[0]
        r = refine_poses(ds, avg, col, mwa)
        report(f"class averages, round {it + 2}", r["rotation"], r["translation"], emb, y, sym)


if __name__ == "__main__":
    main(sys.argv[1])
