"""Where the translation latent's |r| goes (issue 9): on a trained spatial model's run folder and its data, Pearson r
per axis between the true shift and (a) the model's `translation` = −R(Θ)Δt (voxels; what `pose_latent_scores` reports),
(b) −Δt alone (Θ ignored; models with shift_frame="model" only), (c) the energy centroid of the posed decode (where the model puts the particle), and (d) the
energy centroid of the (model-prepared) input itself, a trivial estimator needing no model; then per class, per axis, the least-squares line `translation ≈ slope·shift + offset` and r
(a class-wide offset is the model's choice of the molecule's centre, the gauge that `centre_weight` fixes).

    PYTHONPATH=$PWD python benchmarks/spatial_shift_scores.py RUN_DIR DATA_DIR [RUN_DIR DATA_DIR ...]
"""
import json, sys
import numpy as np
import torch
from cryo_disent.data import VolumeDataset
from cryo_disent.models.base import load_model
from cryo_disent.models.spatial_vae import energy_centroid


@torch.no_grad()
def scores(run, data):
    m = load_model(f"{run}/model.pt").eval()
    ds = VolumeDataset.from_folder(data)
    x = torch.stack([ds[i]["x"] for i in range(len(ds))])
    ts = torch.stack([torch.as_tensor(ds[i]["shift"]) for i in range(len(ds))]).float().numpy()
    y = np.array([int(ds[i]["label"]) for i in range(len(ds))])
    lat = m.encode(x)
    xh = m.decode(lat)
    D = x.shape[-1]
    est = dict(translation=lat["translation"], decode_centroid=energy_centroid(xh) * (D - 1) / 2,
               input_centroid=energy_centroid(m.prepare(x)) * (D - 1) / 2)
    if getattr(m.config, "shift_frame", "model") == "model": est["minus_dt"] = -lat["translation_params"] * (D - 1) / 2
    r = lambda a: [round(float(np.corrcoef(np.asarray(a)[:, i], ts[:, i])[0, 1]), 3) for i in range(3)]
    out = {k: r(v) for k, v in est.items()}
    u, per_class = lat["translation"].numpy(), {}
    for c in np.unique(y):
        k, lines = y == c, []
        for i in range(3):
            (slope, off), *_ = np.linalg.lstsq(np.c_[ts[k, i], np.ones(k.sum())], u[k, i], rcond=None)
            lines.append([round(float(slope), 2), round(float(off), 2), round(float(np.corrcoef(u[k, i], ts[k, i])[0, 1]), 2)])
        per_class[int(c)] = lines
    return dict(run=run, **out, **{f"{k}_abs_mean": round(float(np.mean(np.abs(v))), 3) for k, v in out.items()},
                per_class_slope_offset_r=per_class)


if __name__ == "__main__":
    a = sys.argv[1:]
    for run, data in zip(a[::2], a[1::2]):
        print(json.dumps(scores(run, data)), flush=True)
