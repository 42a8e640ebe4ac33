"""MkDocs hook: render the tutorials in ``notebooks/`` as pages of the site.

The notebooks live at the top of the repository (``python3 dev.py lab`` opens that folder), not under
``docs/``. This hook adds them to the site's files as ``notebooks/<name>.ipynb`` before mkdocs-jupyter
looks for notebooks, so the nav can list them and mkdocs-jupyter renders them (``execute: false``: they
are stored without outputs and the docs build never runs a model).
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File


@event_priority(100)  # before mkdocs-jupyter's on_files (priority 0), which wraps .ipynb files
def on_files(files, config):
    root = Path(config.config_file_path).resolve().parent
    for nb in sorted((root / "notebooks").glob("*.ipynb")):
        files.append(
            File(
                f"notebooks/{nb.name}",
                src_dir=str(root),
                dest_dir=config.site_dir,
                use_directory_urls=config.use_directory_urls,
            )
        )
    return files
