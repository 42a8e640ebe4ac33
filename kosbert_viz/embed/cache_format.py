"""The embedding cache's segment files: their byte layout, writing one atomically, reading and verifying one.

A segment (``<time>-<pid>-<rand>.kvs``) holds one batch of vectors of one namespace::

    header   64 bytes: magic, version, dim, dtype code, count, keys CRC32, vectors CRC32,
             header CRC32, zero padding (little-endian)
    keys     count x 16 bytes (the 128-bit text keys, ``dtype='S16'``)
    vectors  count x dim little-endian float32 or float16, row after row

Every part is checked against its CRC32 when it is read; a file that fails raises
:class:`CorruptSegment`. A segment is written to the namespace's ``tmp/`` folder, fsync'ed and
renamed into place (:func:`kosbert_viz._util.atomic.write_atomic`), so a reader sees it whole or not at
all. :class:`kosbert_viz.embed.cache.EmbeddingCache` decides what goes into which segment.

>>> import tempfile
>>> from pathlib import Path
>>> ns_dir = Path(tempfile.mkdtemp())
>>> keys = np.array([b"k" * 16, b"j" * 16], dtype="S16")
>>> path = write_segment(ns_dir, keys, np.ones((2, 3), np.float32), "float32")
>>> seg, stored = read_segment_keys(path)
>>> seg.count, seg.dim, seg.size, stored.tolist() == keys.tolist()
(2, 3, 120, True)
>>> bool(read_block(seg, np.empty((2, 3), np.float32))[-1] == seg.vecs_crc)
True
"""

from __future__ import annotations

import errno
import os
import secrets
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kosbert_viz._util.atomic import write_atomic
from kosbert_viz.exceptions import CacheFullError, CacheNotWritableError

__all__ = [
    "FORMAT",
    "DTYPE_CODES",
    "CRC_CHUNK",
    "TMP_MAX_AGE",
    "Segment",
    "CorruptSegment",
    "read_segment_keys",
    "write_segment",
    "read_block",
    "read_rows",
    "atomic_write",
    "clean_tmp",
    "file_size",
    "unlink_quiet",
    "touch",
]

FORMAT = "v1"  # the folder under the cache root; a new on-disk format would get a new one
_MAGIC = b"KVZSEG\x00\x01"
_VERSION = 1
# magic, version, dim, dtype code, count, keys crc, vectors crc | header crc, padding
_HEAD = struct.Struct("<8sIIIQII")
_HEAD_CRC = struct.Struct("<I")
_HEADER_SIZE = 64
_DTYPES = {1: np.dtype("<f4"), 2: np.dtype("<f2")}
DTYPE_CODES = {"float32": 1, "float16": 2}
CRC_CHUNK = 1 << 13  # a verified segment keeps its running CRC every 8 KiB, to re-check partial reads
TMP_MAX_AGE = 3600.0  # seconds before an orphaned tmp file is removed
_FULL_ERRNOS = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}


@dataclass
class Segment:
    """What the header of one segment file says (its keys are returned beside it)."""

    path: Path
    dim: int
    dtype: np.dtype
    count: int
    vecs_crc: int
    size: int

    @property
    def vec_offset(self) -> int:
        return _HEADER_SIZE + 16 * self.count


class CorruptSegment(ValueError):
    """A segment file that fails its checksums or does not match its header."""


# -- reading -----------------------------------------------------------------------
def read_segment_keys(path: Path) -> tuple[Segment, np.ndarray]:
    """Read and verify a segment's header and keys (not its vectors)."""
    with open(path, "rb") as fh:
        head = fh.read(_HEADER_SIZE)
        if len(head) < _HEADER_SIZE:
            raise CorruptSegment("truncated header")
        magic, version, dim, code, count, keys_crc, vecs_crc = _HEAD.unpack_from(head)
        (head_crc,) = _HEAD_CRC.unpack_from(head, _HEAD.size)
        if magic != _MAGIC or zlib.crc32(head[: _HEAD.size]) != head_crc:
            raise CorruptSegment("bad header checksum")
        if version != _VERSION or code not in _DTYPES:
            raise CorruptSegment(f"unknown segment version {version} / dtype {code}")
        dtype = _DTYPES[code]
        size = os.fstat(fh.fileno()).st_size
        if size != _HEADER_SIZE + count * (16 + dim * dtype.itemsize):
            raise CorruptSegment(f"size {size} does not match its header")
        raw = fh.read(16 * count)
    if zlib.crc32(raw) != keys_crc:
        raise CorruptSegment("bad key checksum")
    return Segment(path, dim, dtype, count, vecs_crc, size), np.frombuffer(raw, dtype="S16")


def read_block(seg: Segment, target: np.ndarray) -> np.ndarray:
    """Read the whole vector block of ``seg`` into ``target`` (shape ``(count, dim)``) and verify it.

    Returns its running CRCs (:func:`running_crc`), which :func:`read_rows` needs to re-check a later
    partial read.
    """
    with open(seg.path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size != seg.size:
            raise CorruptSegment("its size changed after it was first read")
        fh.seek(seg.vec_offset)
        buf = memoryview(target).cast("B")
        got = fh.readinto(buf)
    if got != len(buf):
        raise CorruptSegment("truncated vectors")
    marks = running_crc(buf)
    if int(marks[-1]) != seg.vecs_crc:
        raise CorruptSegment("bad vector checksum")
    return marks


def read_rows(seg: Segment, marks: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``rows`` of a verified segment, reading (and re-checking against ``marks``) only the chunks that hold them."""
    item = seg.dtype.itemsize
    row_bytes = seg.dim * item
    total = seg.count * row_bytes
    start = rows.astype(np.int64) * row_bytes
    first, last = start // CRC_CHUNK, (start + row_bytes - 1) // CRC_CHUNK
    cover = np.zeros(len(marks) + 1, np.int32)
    np.add.at(cover, first, 1)
    np.add.at(cover, last + 1, -1)
    need = np.cumsum(cover[:-1]) > 0
    edges = np.flatnonzero(np.diff(np.concatenate(([False], need, [False])).astype(np.int8)))
    runs = edges.reshape(-1, 2)  # [first chunk, end chunk) of each contiguous run of needed chunks
    lo = runs[:, 0] * CRC_CHUNK
    hi = np.minimum(runs[:, 1] * CRC_CHUNK, total)
    at = np.concatenate(([0], np.cumsum(hi - lo)))  # where each run starts in `pool`
    pool = np.empty(int(at[-1]), np.uint8)
    view = memoryview(pool)
    crc32 = zlib.crc32
    with open(seg.path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size != seg.size:
            raise CorruptSegment("its size changed after it was first read")
        for (c0, c1), a, b, p in zip(runs.tolist(), lo.tolist(), hi.tolist(), at.tolist()):
            fh.seek(seg.vec_offset + a)
            if fh.readinto(view[p : p + b - a]) != b - a:
                raise CorruptSegment("truncated vectors")
            crc = int(marks[c0 - 1]) if c0 else 0
            for c in range(c0, c1):
                off = p + (c - c0) * CRC_CHUNK
                crc = crc32(view[off : min(off + CRC_CHUNK, p + b - a)], crc)
                if crc != marks[c]:
                    raise CorruptSegment("bad vector checksum (changed on disk after it was first read)")
    # each row lies inside one run; chunk boundaries are multiples of the item size
    run_of_row = np.searchsorted(runs[:, 0], first, side="right") - 1
    item_at = (at[run_of_row] + start - lo[run_of_row]) // item
    values = pool.view(seg.dtype)
    return values[item_at[:, None] + np.arange(seg.dim)]


def running_crc(buf: memoryview) -> np.ndarray:
    """CRC32 of ``buf[:end]`` for the end of each ``CRC_CHUNK``-byte chunk (the last one is the whole CRC)."""
    crc, marks, crc32 = 0, [], zlib.crc32
    for s in range(0, len(buf), CRC_CHUNK):
        crc = crc32(buf[s : s + CRC_CHUNK], crc)
        marks.append(crc)
    return np.array(marks or [0], np.uint32)


# -- writing -----------------------------------------------------------------------
def write_segment(ns_dir: Path, keys: np.ndarray, vectors: np.ndarray, dtype: str) -> Path:
    """Write one segment of ``keys`` and ``vectors`` (stored as ``dtype``) into ``ns_dir``; returns its path."""
    count, dim = vectors.shape
    vectors = np.ascontiguousarray(vectors, dtype=np.dtype(dtype).newbyteorder("<"))
    key_bytes = np.ascontiguousarray(keys).tobytes()
    head = _HEAD.pack(
        _MAGIC,
        _VERSION,
        dim,
        DTYPE_CODES[dtype],
        count,
        zlib.crc32(key_bytes),
        zlib.crc32(memoryview(vectors).cast("B")),
    )
    head += _HEAD_CRC.pack(zlib.crc32(head))
    head = head.ljust(_HEADER_SIZE, b"\0")
    name = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}.kvs"
    final = ns_dir / name
    atomic_write(ns_dir, final, head, key_bytes, memoryview(vectors).cast("B"))
    return final


def atomic_write(ns_dir: Path, final: Path, *chunks) -> None:
    """Write ``chunks`` to ``final`` via tmp file + fsync + rename.

    A crash leaves only a file in ``tmp/``; a full disk raises CacheFullError, a folder that cannot
    be written (permissions, a read-only file system, a file in the way) CacheNotWritableError, and
    both leave nothing behind.
    """
    try:
        write_atomic(final, chunks, tmp_dir=ns_dir / "tmp", tag="seg")
    except OSError as exc:
        if exc.errno in _FULL_ERRNOS:
            raise CacheFullError(
                exc.errno,
                f"kosbert_viz cache: the disk is full, could not write {final.name} under {ns_dir.parent.parent}. "
                "Entries stored before are intact. Free space, run `kosbert-viz cache prune --max-bytes ...`, "
                "or point KOSBERT_VIZ_CACHE / cache= at a larger disk.",
            ) from exc
        root = ns_dir.parent.parent
        raise CacheNotWritableError(
            exc.errno,
            f"kosbert_viz cache at {root} is not writable ({exc.strerror or exc}: {exc.filename}). Entries "
            "stored before are intact and still read. Make the folder writable, point KOSBERT_VIZ_CACHE / "
            "cache= at a writable folder, or pass cache=None to keep nothing on disk.",
        ) from exc
    _fsync_dir(ns_dir)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # Windows cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- file helpers ------------------------------------------------------------------
def file_size(path: Path) -> int:
    """The size of ``path``, 0 once it is gone."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def unlink_quiet(path: Path) -> None:
    """Remove ``path``; nothing happens if it is gone already or may not be removed (a read-only cache)."""
    try:
        os.unlink(path)
    except OSError:
        pass


def touch(path: Path) -> None:
    """Mark a segment as used now (its atime), for least-recently-used pruning."""
    try:
        st = os.stat(path)
        os.utime(path, ns=(time.time_ns(), st.st_mtime_ns))
    except OSError:
        pass


def clean_tmp(tmp_dir: Path, max_age: float = TMP_MAX_AGE) -> None:
    """Remove files left in ``tmp/`` by writers that crashed (older than ``max_age``)."""
    now = time.time()
    try:
        entries = list(os.scandir(tmp_dir))
    except FileNotFoundError:
        return
    for entry in entries:
        try:
            if now - entry.stat().st_mtime >= max_age:
                os.unlink(entry.path)
        except OSError:
            pass
