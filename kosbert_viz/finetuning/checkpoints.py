"""The folders of a fine-tuning run: the output folder, its checkpoints, and where a resumed run starts.

Checkpoints go to ``output_dir/checkpoints`` beside a run file (``kosbert_viz_run.json``) holding the
data hash and settings they were made with: a resume with other data or settings is refused, and
only folders that hold nothing but what a run wrote there are ever removed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from kosbert_viz.finetuning.card import RECORD_FILE

__all__ = ["CHECKPOINT_DIR"]

log = logging.getLogger("kosbert_viz")

CHECKPOINT_DIR = "checkpoints"
_RUN_FILE = "kosbert_viz_run.json"


def output_folder(output_dir) -> Path:
    """``output_dir`` as a Path, checked: a new or empty folder, or one a kosbert_viz run wrote."""
    if output_dir is None or not isinstance(output_dir, (str, os.PathLike)):
        raise TypeError(f"output_dir must be a folder path, got {type(output_dir).__name__}")
    out = Path(output_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"output_dir {str(out)!r} is a file, expected a folder for the new model")
    if (
        out.is_dir()
        and any(out.iterdir())
        and not ((out / RECORD_FILE).exists() or our_checkpoints(out / CHECKPOINT_DIR))
    ):
        raise FileExistsError(
            f"output_dir {str(out)!r} already holds files that are not a kosbert_viz model; "
            "choose a new or empty folder (nothing there was touched)"
        )
    return out


def _latest_checkpoint(folder: Path) -> Path | None:
    if not folder.is_dir():
        return None
    found = [
        p
        for p in folder.iterdir()
        if p.is_dir() and p.name.startswith("checkpoint-") and p.name.split("-")[-1].isdigit()
    ]
    return max(found, key=lambda p: int(p.name.split("-")[-1])) if found else None


def our_checkpoints(folder: Path) -> bool:
    """True when ``folder`` holds only what finetune writes there: its run file (required), the
    trainer's checkpoint-* folders and its logs. Anything else is the user's and is never removed."""
    if not folder.is_dir():
        return False
    entries = list(folder.iterdir())
    mine = all(e.name in (_RUN_FILE, "runs") or (e.is_dir() and e.name.startswith("checkpoint-")) for e in entries)
    return mine and (folder / _RUN_FILE).exists()


def resume_point(ckpt_dir: Path, resume, run_key: dict) -> str | None:
    """The checkpoint a run starts from (None: the start), and the run file written for this run.

    ``resume``: True (the latest checkpoint in ``ckpt_dir``, if any), a checkpoint folder, or
    False/None (a fresh run: an earlier run's checkpoints are removed). Resuming from ``ckpt_dir``
    with another ``run_key`` (data hash, base model, plan, ...) than the one saved is refused.
    """
    resume_from = None
    if resume is True:
        latest = _latest_checkpoint(ckpt_dir)
        if latest is None:
            log.warning("resume=True but no checkpoint in %s: training from the start", ckpt_dir)
        resume_from = str(latest) if latest else None
    elif resume not in (False, None):
        if not isinstance(resume, (str, os.PathLike)):
            raise TypeError(f"resume must be True, False or a checkpoint folder, got {resume!r}")
        resume_from = str(Path(resume).expanduser())
        if not (Path(resume_from) / "trainer_state.json").exists():
            raise FileNotFoundError(
                f"resume={resume_from!r} is not a checkpoint folder (no trainer_state.json); "
                f"checkpoints are in {ckpt_dir}"
            )
    elif our_checkpoints(ckpt_dir):
        shutil.rmtree(ckpt_dir)  # a fresh run: old checkpoints of an earlier run would mix in
    run_file = ckpt_dir / _RUN_FILE
    if resume_from and run_file.exists() and Path(resume_from).parent.resolve() == ckpt_dir.resolve():
        saved = json.loads(run_file.read_text(encoding="utf-8"))
        changed = sorted(k for k in run_key if saved.get(k) != json.loads(json.dumps(run_key[k])))
        if changed:
            raise ValueError(
                f"resume: the checkpoints in {ckpt_dir} were made with another {', '.join(changed)}; "
                "resume with the same data and settings, or pass resume=False to start again"
            )
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    run_file.write_text(json.dumps(run_key, sort_keys=True), encoding="utf-8")
    return resume_from
