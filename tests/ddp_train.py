"""Worker for test_distributed.py: run under `torchrun --nproc_per_node 2` (gloo on CPU); prints one JSON line per rank."""
import json
import sys
from accelerate import PartialState
from cryo_disent.core import seed_everything
from cryo_disent.data import VolumeDataset
from cryo_disent.models.vae import BetaVAE
from cryo_disent.toysets import tetrominoes
from cryo_disent.train import Trainer

out = sys.argv[1]
vols, table = tetrominoes(8, size=16, classes=["I", "O", "T", "L"], seed=0, held_out=())
ds = VolumeDataset(vols, table)
seed_everything(0)
model = BetaVAE(input_shape=(1, 16, 16, 16), latent_dim=3, channels=(8, 16))
Trainer(model, ds, ds.subset(range(8)), out_dir=out, epochs=2, batch_size=8, progress=False, device="cpu").fit()
st = PartialState()
checksum = float(sum(p.detach().double().sum() for p in model.parameters()))
print("RESULT " + json.dumps(dict(rank=st.process_index, world=st.num_processes, type=str(st.distributed_type),
                                  checksum=checksum)), flush=True)
