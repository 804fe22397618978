"""JupyterLab smoke test: `jupyter lab --no-browser` on localhost lists `tutorials/` through its REST API, runs a
tutorial's parameters cell through the kernel websocket API, then shuts down (temporary config/runtime dirs)."""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
TOKEN = uuid.uuid4().hex

pytestmark = pytest.mark.slow  # a JupyterLab server and a kernel (`make test-fast` skips)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(port, path, method="GET", body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=20) as r:
        txt = r.read().decode()
    return json.loads(txt) if txt else None


def _execute(port, kernel_id, code, timeout=60) -> tuple:
    "Run `code` through the kernel's websocket channel; returns (stdout text, execute_reply status)."
    import websocket  # websocket-client
    ws = websocket.create_connection(f"ws://127.0.0.1:{port}/api/kernels/{kernel_id}/channels?token={TOKEN}", timeout=timeout)
    try:
        msg_id, session = uuid.uuid4().hex, uuid.uuid4().hex
        ws.send(json.dumps(dict(
            header=dict(msg_id=msg_id, username="test", session=session, msg_type="execute_request", version="5.3"),
            parent_header={}, metadata={}, channel="shell",
            content=dict(code=code, silent=False, store_history=False, user_expressions={}, allow_stdin=False, stop_on_error=True))))
        out, status, idle = [], None, False
        t0 = time.time()
        while not (idle and status) and time.time() - t0 < timeout:
            m = json.loads(ws.recv())
            if m.get("parent_header", {}).get("msg_id") != msg_id: continue
            kind = m["header"]["msg_type"]
            if kind == "stream": out.append(m["content"]["text"])
            elif kind == "error": out.append("\n".join(m["content"]["traceback"]))
            elif kind == "execute_reply": status = m["content"]["status"]
            elif kind == "status" and m["content"]["execution_state"] == "idle": idle = True
        return "".join(out), status
    finally:
        ws.close()


def test_jupyterlab_lists_tutorials_and_runs_a_cell(tmp_path):
    pytest.importorskip("jupyterlab")
    pytest.importorskip("websocket")
    port = _free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "IPYTHONDIR": str(tmp_path / "ipython")}
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.token={TOKEN}", f"--ServerApp.root_dir={ROOT}", "--ServerApp.port_retries=0"]
    if os.geteuid() == 0: cmd.append("--allow-root")  # containers, CI
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        t0 = time.time()
        while True:
            try:
                _api(port, "/api/status")
                break
            except OSError:
                assert proc.poll() is None, f"jupyter lab exited: {proc.stdout.read()[-3000:]}"
                assert time.time() - t0 < 60, "jupyter lab did not answer within 60 s"
                time.sleep(0.5)
        listing = _api(port, "/api/contents/tutorials")
        names = {c["name"] for c in listing["content"]}
        assert {"00_index.ipynb", "01_quickstart.ipynb"} <= names, names
        nb = _api(port, "/api/contents/tutorials/01_quickstart.ipynb")["content"]  # the notebook as Lab opens it
        cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
        kernel = _api(port, "/api/kernels", "POST", {"name": "python3"})
        out, status = _execute(port, kernel["id"], cell["source"] + "\nprint('model =', model, '| epochs =', epochs)")
        assert status == "ok", out
        ns = {}
        exec(cell["source"], ns)  # the defaults as this process reads them; the kernel must print the same
        assert f"model = {ns['model']} | epochs = {ns['epochs']}" in out, out
        _api(port, f"/api/kernels/{kernel['id']}", "DELETE")
        assert _api(port, "/api/kernels") == []
        _api(port, "/api/shutdown", "POST")
        proc.wait(timeout=20)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)
