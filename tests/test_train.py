"""The β-VAE trains on 3D tetrominoes through the one Trainer: the loss goes down and the run folder is complete."""
import json
import numpy as np
from cryo_disent.core import seed_everything
from cryo_disent.data.datasets import VolumeDataset, split_indices
from cryo_disent.models.vae import BetaVAE
from cryo_disent.data.toysets import tetrominoes
from cryo_disent.training.train import Trainer


def test_beta_vae_learns_tetrominoes(tmp_path):
    vols, table = tetrominoes(24, size=16, classes=["I", "O", "T", "L"], seed=0, held_out=())
    ds = VolumeDataset(vols, table)
    tr, va = split_indices(len(ds), 0.2, seed=0, labels=table.label.to_numpy())
    seed_everything(0)
    model = BetaVAE(input_shape=(1, 16, 16, 16), latent_dim=4, beta=1.0, channels=(8, 16), lr=3e-3)
    hist = Trainer(model, ds.subset(tr), ds.subset(va), out_dir=tmp_path, epochs=8, batch_size=16, progress=False).fit()
    train = [h["loss"] for h in hist if h["split"] == "train"]
    val = [h["loss"] for h in hist if h["split"] == "val"]
    assert train[-1] < 0.6 * train[0], train
    assert val[-1] < val[0], val
    assert all(np.isfinite(train))
    logged = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in logged if r["split"] == "train"] == list(range(8))
