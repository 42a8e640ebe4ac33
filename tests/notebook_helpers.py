"""Running a tutorial notebook the way the suite does (tests/notebooks and tests/browser share it)."""

from __future__ import annotations

import os
from pathlib import Path

# Notebooks that fine-tune need a sentence-transformers model (the offline USE cannot be trained): the tiny one.
TRAINS_A_MODEL = {"08_domain_adaptation"}


def execute_notebook(path: Path, workdir: Path, *, timeout: int = 600, env: dict | None = None):
    """Run a notebook with the offline model in ``workdir``; returns the executed notebook."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    old = dict(os.environ)
    os.environ.update({"KOSBERT_VIZ_MODEL": "offline", "HF_HUB_OFFLINE": "1", **(env or {})})
    try:
        NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
        ).execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    return nb
