"""Worker for test_trainer_contract.py / test_distributed.py: run under `torchrun --nproc_per_node 2` (gloo on CPU).

    ddp_train.py OUT_DIR NAME [NAME ...]   trains each registered model 2 epochs (global batch 4, float64) into OUT_DIR/NAME;
                                           one JSON file per rank and model; then, with DDP_CLI_DATA=FOLDER,
                                           `cryo-disent train` on FOLDER into OUT_DIR/cli_run
"""
import json
import os
import sys
from pathlib import Path
import torch
from accelerate import PartialState

sys.path.insert(0, str(Path(__file__).parent))
import dummy_models  # noqa: E402,F401  (registers the test-only models)
from cryo_disent.core import seed_everything  # noqa: E402
from cryo_disent.models.registry import get_model_class  # noqa: E402
from cryo_disent.training.train import Trainer  # noqa: E402
from test_trainer_contract import Toy, _shape  # noqa: E402

# float64, here and in the 1-process reference run of the test: Adam turns float32 rounding noise in gradients that are
# zero in exact arithmetic (a bias before a normalisation) into lr-sized steps, so float32 runs on 1 and 2 processes
# drift apart by ~1e-3 within 2 epochs although they compute the same thing; float64 runs agree to ~1e-8.
torch.set_default_dtype(torch.float64)
out, names = Path(sys.argv[1]), sys.argv[2:]
for name in names:
    cls = get_model_class(name)
    seed_everything(0)
    model = cls(cls.tiny_config(_shape(cls)))
    seen = []
    data = Toy(_shape(cls), 16)
    orig = data.__getitem__
    data.__getitem__ = None
    class Tracking(Toy):
        def __getitem__(self, i):
            seen.append(int(i))
            return super().__getitem__(i)
    data.__class__ = Tracking
    Trainer(model, data, Toy(_shape(cls), 8, seed=1), out_dir=out / name, epochs=2, batch_size=4, progress=False,
            device="cpu").fit()
    st = PartialState()
    checksum = float(sum(p.detach().double().sum() for p in model.parameters()))
    extra = {k: v for k, v in model.state_dict().items() if not isinstance(v, torch.Tensor)}
    res = json.dumps(dict(name=name, rank=st.process_index, world=st.num_processes, type=str(st.distributed_type),
                          checksum=checksum, data=sorted(set(seen)), extra=str(extra)))
    # one file per rank: two ranks' lines on a shared stdout can interleave
    (out / f"result_{name}_{st.process_index}.json").write_text(res)

cli_data = os.environ.get("DDP_CLI_DATA")
if cli_data:  # `cryo-disent train` itself under torchrun: one folder lock (the main process's), rank 0 writes
    from cryo_disent.app import cli  # noqa: E402
    torch.set_default_dtype(torch.float32)  # the data on disk are float32
    rc = cli.main(["train", "--data", cli_data, "--out", str(out / "cli_run"), "--model", "beta_vae", "--epochs", "1",
                   "--batch-size", "4", "--device", "cpu", "--set", "channels=[4]", "--quiet"])
    (out / f"cli_rc_{PartialState().process_index}.json").write_text(json.dumps(rc))
