"""The Trainer under data parallelism: 2 processes (torchrun, gloo on CPU) stay in sync and write one log and checkpoint."""
import json
import subprocess
import sys
from pathlib import Path
import pytest

HERE = Path(__file__).parent


def test_two_process_data_parallel(tmp_path):
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(HERE / "ddp_train.py"),
                        str(tmp_path / "run")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    res = sorted((json.loads(l.split("RESULT ", 1)[1]) for l in r.stdout.splitlines() if "RESULT " in l),
                 key=lambda d: d["rank"])
    assert [d["rank"] for d in res] == [0, 1] and all(d["world"] == 2 for d in res)
    assert "MULTI_CPU" in res[0]["type"]
    assert res[0]["checksum"] == pytest.approx(res[1]["checksum"], rel=1e-6)  # gradients all-reduced: same weights
    log = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(log) == 4  # 2 epochs × (train, val), written once by the main process
    assert (tmp_path / "run" / "checkpoint.pt").exists() and (tmp_path / "run" / "model.pt").exists()
