"""Score a trained DualContrast model.pt on the tutorial's 3D data (issue 8): re-simulates the data exactly as
`tutorials/05_dualcontrast.ipynb` does (same preset, sizes, seed, Fourier crop) and prints the Table-2 row.

  PYTHONPATH=$PWD python benchmarks/dualcontrast_eval.py runs/b_seed004/runs/seed004/dualcontrast/model.pt seed004 150 32 16
An optional sixth argument is the tutorial's `seed` (default 0). Also printed: zcos_oth, the mean |cos| between the z of
different particles (1: z collapsed to one direction).
"""
import json, sys
import pandas as pd
import torch
from cryo_disent.data import VolumeDataset
from cryo_disent.disentanglement import cluster_ari, content_transformation_scores, hinge_rank_correlation
from cryo_disent.evaluate import embed_dataset
from cryo_disent.fourier import fourier_crop
from cryo_disent.models.base import load_model
from cryo_disent.simulate import simulate

path, name, n, box, crop = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
snr, mwa = 0.1, 30.0
seed = int(sys.argv[6]) if len(sys.argv) > 6 else 0
vols, tab = simulate(name, n_per_class=n, box=box, snr=snr, mwa=mwa, seed=seed)
if crop and crop != box: vols = fourier_crop(vols[:, 0], crop)[:, None]
ds = VolumeDataset(vols[:, 0].numpy(), tab)
m = load_model(path)
emb = embed_dataset(m, ds, batch_size=64)
row = content_transformation_scores(emb["content"], emb["transformation"], tab.label.to_numpy(), rotation=ds.rotations.numpy(), seed=seed)
if "identity" in tab:
    ident = pd.factorize(tab.identity)[0]
    row["ARI(c→identity)"] = cluster_ari(emb["content"], ident, seed=seed)
    row["hinge ρ(c)"] = hinge_rank_correlation(emb["content"], tab.hinge_deg, tab.identity)["mean"]
    row["hinge ρ(z)"] = hinge_rank_correlation(emb["transformation"], tab.hinge_deg, tab.identity)["mean"]
zn = torch.nn.functional.normalize(torch.as_tensor(emb["transformation"]).float(), dim=1)
row["zcos_oth"] = (zn @ zn.T)[~torch.eye(len(zn), dtype=torch.bool)].abs().mean()
row["ARI(c), GMM in all dims"] = cluster_ari(emb["content"], tab.label.to_numpy(), reduce=None, seed=seed)
print(json.dumps(dict(model=path, data=name, n=len(ds), lowpass=m.config.lowpass, t_wedge=m.config.t_wedge,
                      **{k: round(float(v), 3) for k, v in row.items()})))
