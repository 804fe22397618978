"""Where the unseen class of tutorial 04a lands under several nearest-centre rules, from runs' `latents.npz`.

    python benchmarks/aff04a_landing.py runs/aff3/cm005 runs/aff3/b_l4 ...

Rules (class centres = mean training latent per seen class): `cos` nearest centre by cosine (the tutorial's default,
`latent_map.nearest_centre`), `euc` by Euclidean distance, `ccos` cosine after subtracting the mean of the centres,
`knn5` majority of the 5 training latents of highest cosine, `lda` Mahalanobis distance with the pooled within-class
covariance. Prints, per run: the fraction (%) of the unseen particles on `--target` under each rule, the default
rule's plurality class, the pooled |r| of the pose channel and the latent-vs-affinity r from `metrics.json`.
"""
import argparse, json, sys
from pathlib import Path
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cryo_disent import latent_map as lm


def rules(ztr, ytr, z):
    "Predicted class id of each row of `z` under each rule."
    unit = lambda a: a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    ids, C = lm.class_centres(ztr, ytr)
    g = C.mean(0)
    near = ytr[np.argsort(-(unit(z) @ unit(ztr).T), 1)[:, :5]]
    W = np.cov((ztr - C[np.searchsorted(ids, ytr)]).T) + 1e-6 * np.eye(ztr.shape[1])
    d = z[:, None] - C[None]
    return dict(cos=lm.nearest_centre(z, ids, C), euc=lm.nearest_centre(z, ids, C, metric="euclidean"),
                ccos=lm.nearest_centre(z - g, ids, C - g), knn5=np.array([np.bincount(q).argmax() for q in near]),
                lda=ids[np.einsum("nkd,de,nke->nk", d, np.linalg.inv(W), d).argmin(1)])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--classes", default="aebdijz2uv")
    ap.add_argument("--unseen", default="v")
    ap.add_argument("--target", default="u")
    a = ap.parse_args()
    names = list(a.classes)
    for r in a.runs:
        L, m = np.load(Path(r) / "latents.npz"), json.loads((Path(r) / "metrics.json").read_text())
        v = L["test_label"] == names.index(a.unseen)
        p = rules(L["train_content"], L["train_label"], L["test_content"][v])
        share = {k: round(100 * float((q == names.index(a.target)).mean())) for k, q in p.items()}
        top = names[int(np.bincount(p["cos"]).argmax())]
        print(Path(r).name, f"{a.unseen}->{a.target} %:", share, "plurality:", top, "pose |r|:", round(m["pose_abs_r"], 3),
              "latent-vs-A r:", m["affinity_correlation"])


if __name__ == "__main__":
    main()
