"""Atomic file writes: a reader sees the old file or the new one, never a part of either.

The data goes to a temporary file in the same folder (or in ``tmp_dir`` on the same file system),
is flushed and fsync'ed, then renamed over the target. The temporary name is short and of its own
(not the target's name plus a suffix), so it fits beside a target whose name is 255 bytes long. On
any error the temporary file is removed and the error raised again: the target is untouched.

>>> import tempfile, pathlib
>>> target = pathlib.Path(tempfile.mkdtemp()) / "report.html"
>>> write_atomic(target, "<p>안녕</p>".encode()) == target, target.read_text(encoding="utf-8")
(True, '<p>안녕</p>')
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path

__all__ = ["write_atomic", "temp_name", "TEMP_SUFFIX"]

TEMP_SUFFIX = ".tmp"


def temp_name(tag: str = "kv") -> str:
    """A short unique file name for a temporary file: ``.{tag}.{pid}.{8 hex}.tmp``."""
    return f".{tag}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}"


def write_atomic(
    path,
    data: bytes | Iterable[bytes],
    *,
    tmp_dir=None,
    mode: int | None = None,
    keep_mode: bool = False,
    tag: str = "kv",
) -> Path:
    """Write ``data`` (bytes, or an iterable of byte chunks) to ``path`` atomically; returns ``path``.

    ``tmp_dir``: where the temporary file goes (created if missing; must be on ``path``'s file
    system), default ``path``'s folder. ``mode``: permission bits for the new file (default: the
    process's umask applied to 0o666, as ``open`` does); ``keep_mode``: a replaced file keeps its own.
    """
    path = Path(path)
    if mode is None and keep_mode:
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            pass
    folder = Path(tmp_dir) if tmp_dir is not None else path.parent
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / temp_name(tag)
    chunks = (data,) if isinstance(data, (bytes, bytearray, memoryview)) else data
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path
