"""What every benchmark does last: print its result as JSON and, with ``--out``, write the same text there."""

from __future__ import annotations

import json
from pathlib import Path


def emit(result: dict, out=None, *, indent: int = 1) -> None:
    """Print ``result`` as JSON (UTF-8, Hangul as is); also write it to ``out`` when given."""
    text = json.dumps(result, indent=indent, ensure_ascii=False)
    print(text)
    if out:
        Path(out).write_text(text + "\n", encoding="utf-8")
