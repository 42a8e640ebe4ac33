#!/usr/bin/env python3
"""Set up a virtual environment and run kosbert_viz's main job or its tests.

    python3 dev.py demo      # create .venv, install, run `kosbert-viz demo`
    python3 dev.py test      # create .venv, install with test extras, run the whole test suite (as CI does)
    python3 dev.py test --fast   # only the quick unit tests (tests/unit, not marked slow): a few minutes
    python3 dev.py lab       # create .venv with JupyterLab, open the tutorials in notebooks/
    python3 dev.py docs      # create .venv with the docs tools, build the documentation site into site/
    python3 dev.py setup     # only create/update .venv

Needs nothing but Python 3.10+. Extra arguments go to the command (e.g. `dev.py test -k cache`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("KOSBERT_VIZ_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
# torch first, pinned to the CPU build (an unpinned torch pulls a multi-GB CUDA build)
TORCH = "torch==2.13.0"


def run(cmd, **kw) -> None:
    print("+", " ".join(map(str, cmd)), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kw)


def setup(extras: str) -> None:
    if not PY.exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp_file = VENV / f".kosbert_viz-installed-{extras}"
    stamp = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp_file.exists() and stamp_file.read_text() == stamp:
        return
    pip = [PY, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    run(pip + ["--upgrade", "pip"])
    run(pip + [TORCH])
    run(pip + ["-e", f".[{extras}]"], cwd=ROOT)
    stamp_file.write_text(stamp)


def browser() -> None:
    """Headless Chromium for the browser tests (Debian/Ubuntu as root); tests skip without it."""
    script = ROOT / ".ci" / "install_browser.sh"
    if not script.exists():
        return
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):  # idempotent
        subprocess.run(["bash", str(script)], check=False)
    else:
        print("chromium not found: the browser tests will be skipped (see .ci/install_browser.sh)", flush=True)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test", "setup", "lab", "docs"):
        print(__doc__)
        return 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "setup":
        setup("test")
        return 0
    if cmd == "lab":
        setup("lab")
        if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in rest:
            # JupyterLab refuses root without it (containers and these machines run as root)
            print("running as root: passing --allow-root to jupyter lab", flush=True)
            rest = ["--allow-root", *rest]
        return subprocess.call([str(BIN / "jupyter"), "lab", str(ROOT / "notebooks"), *rest], cwd=ROOT)
    if cmd == "docs":
        setup("docs")  # mkdocs-material, mkdocstrings, mkdocs-jupyter; the notebooks are rendered, never run
        return subprocess.call(
            [str(PY), "-m", "mkdocs", "build", "--strict", "-d", str(ROOT / "site"), *rest], cwd=ROOT
        )
    if cmd == "demo":
        setup("offline")
        return subprocess.call([str(BIN / "kosbert-viz"), "demo", *rest], cwd=ROOT)
    setup("test")
    if "--fast" in rest:  # the unit tier: tests/unit without the tests marked slow
        rest = ["tests/unit", "-m", "not slow", *[a for a in rest if a != "--fast"]]
    else:
        browser()
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    return subprocess.call([str(PY), "-m", "pytest", *rest], cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
