"""`python3 dev.py lab` starts JupyterLab on the tutorials, also as root (JupyterLab refuses root without
--allow-root; dev.py passes it and says so). Run in a subprocess against this test environment."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from browser_helpers import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
LAB_MODULES = ("jupyterlab", "ipywidgets", "jscatter", "openpyxl", "papermill")


def test_dev_py_lab_starts_the_server(tmp_path):
    missing = [m for m in LAB_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"the lab extra is not installed here ({', '.join(missing)})")
    venv = Path(sys.prefix)
    # this environment already holds the lab extra: dev.py's install stamp says so, so it starts at once
    stamp = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    (venv / ".kosbert_viz-installed-lab").write_text(stamp)
    port, token = free_port(), secrets.token_hex(16)
    env = dict(
        os.environ,
        KOSBERT_VIZ_VENV=str(venv),
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
        PYTHONUNBUFFERED="1",
    )
    log_path = tmp_path / "dev-lab.log"
    cmd = [sys.executable, str(ROOT / "dev.py"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}"]
    cmd += ["--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", "--LabApp.news_url=None"]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    status = urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2)
                    assert status.status == 200
                    break
                except OSError:
                    assert proc.poll() is None, "dev.py lab exited:\n" + log_path.read_text()[-3000:]
                    assert time.monotonic() < deadline, "no server after 120 s:\n" + log_path.read_text()[-3000:]
                    time.sleep(0.3)
            listing = urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents?token={token}", timeout=5).read()
            assert b"01_quickstart.ipynb" in listing  # it serves the tutorials
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    said = log_path.read_text()
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        assert "running as root: passing --allow-root to jupyter lab" in said
        assert "Running as root is not recommended" not in said
