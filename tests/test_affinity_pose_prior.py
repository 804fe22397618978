"""`affinity_vae(pose_prior="class_mean")` under 2-process data parallelism: the class means are taken over the global
batch (`distributed.gather_rows`), so 2 processes follow the 1-process loss curve and end with the same weights.
Run as a script under torchrun it is its own worker: `test_affinity_pose_prior.py OUT_DIR`."""
import json
import subprocess
import sys
from pathlib import Path
import pytest
import torch

HERE = Path(__file__).parent

pytestmark = pytest.mark.slow  # a 2-process torchrun launch (`make test-fast` skips)


def _fit(out: Path):
    sys.path.insert(0, str(HERE))
    from accelerate import PartialState
    from cryo_disent.core import seed_everything
    from cryo_disent.models.affinity import AffinityVAE
    from cryo_disent.training.train import Trainer
    from test_trainer_contract import Toy
    torch.set_default_dtype(torch.float64)  # as tests/ddp_train.py (why: there)
    seed_everything(0)
    cfg = AffinityVAE.tiny_config((1, 16, 16), pose_decoder="rotate", pose_prior="class_mean", pose_prior_sigma=0.1, gamma=10.0,
                                  affinity=[[1, .3, -.5], [.3, 1, 0], [-.5, 0, 1]])
    m = AffinityVAE(cfg)
    Trainer(m, Toy((1, 16, 16), 16), Toy((1, 16, 16), 8, seed=1), out_dir=out, epochs=2, batch_size=4, progress=False, device="cpu").fit()
    rank = PartialState().process_index
    (out.parent / f"{out.name}_{rank}.json").write_text(json.dumps(float(sum(p.detach().sum() for p in m.parameters()))))


def test_class_mean_pose_prior_two_processes(tmp_path):
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", __file__,
                        str(tmp_path / "two")], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    r1 = subprocess.run([sys.executable, __file__, str(tmp_path / "one")], capture_output=True, text=True, timeout=600)
    assert r1.returncode == 0, r1.stderr[-3000:]
    two = [json.loads(l) for l in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    one = [json.loads(l) for l in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    assert len(two) == len(one) == 4 and all("pose_prior" in h for h in one)
    for a, b in zip(two, one):
        for k in ("loss", "pose_prior", "affinity", "recon"):
            assert a[k] == pytest.approx(b[k], rel=1e-6, abs=1e-9), (a["split"], a["epoch"], k)
    w = [json.loads((tmp_path / f"two_{i}.json").read_text()) for i in (0, 1)] + [json.loads((tmp_path / "one_0.json").read_text())]
    assert w[0] == pytest.approx(w[1], rel=1e-6) and w[0] == pytest.approx(w[2], rel=1e-6)


if __name__ == "__main__":
    _fit(Path(sys.argv[1]))
