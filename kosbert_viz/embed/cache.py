"""Content-addressed embedding cache on disk.

Vectors are stored per model *fingerprint* (model id + revision or weights hash,
max_seq_length, pooling, normalisation, precision) under a 128-bit keyed BLAKE2b
hash of the Unicode-NFC text. Texts never appear in file names or files.

Layout (``<root>/v1/<namespace>/``)::

    model.json                 what the namespace holds (model, dim, dtype)
    <time>-<pid>-<rand>.kvs    immutable segments, one per ``put`` batch
    tmp/                       segments being written (never read)
    lock                       held while compacting

A segment is written to ``tmp/``, fsync'ed, then atomically renamed into place, so
readers see whole segments or nothing: many processes (or distributed workers) may
append at once, and a ``kill -9`` loses at most the batch being written. Each segment
carries CRC32 checksums of its header, keys and vectors; a segment that fails them
is set aside with one warning and its entries count as misses. No pickle anywhere.
The segment file format is :mod:`kosbert_viz.embed.cache_format`, the in-memory look-up
:mod:`kosbert_viz.embed.cache_index`.

Example
-------
>>> import tempfile
>>> cache = EmbeddingCache(tempfile.mkdtemp())      # or a folder of your choice
>>> keys = text_keys("abc123", ["배송이 빨라요", "환불은 언제 되나요?"])
>>> cache.put("abc123", keys[:1], np.ones((1, 4), np.float32), model="demo")
>>> vecs, found = cache.get("abc123", keys)
>>> found.tolist(), vecs[0].tolist()
([True, False], [1.0, 1.0, 1.0, 1.0])
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import unicodedata
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from kosbert_viz.embed.cache_format import (
    DTYPE_CODES,
    FORMAT,
    CorruptSegment,
    Segment,
    atomic_write,
    clean_tmp,
    file_size,
    read_block,
    read_rows,
    read_segment_keys,
    touch,
    unlink_quiet,
    write_segment,
)
from kosbert_viz.embed.cache_index import NamespaceIndex
from kosbert_viz.exceptions import (
    CacheFullError,
    CacheNotWritableError,
    CacheWriteError,
)

__all__ = [
    "EmbeddingCache",
    "CacheWriteError",
    "CacheFullError",
    "CacheNotWritableError",
    "text_keys",
    "default_cache_dir",
]

_SMALL_SEGMENT = 8 << 20  # segments below this are merged by auto-compaction
_AUTO_COMPACT_AT = 64  # small segments in one namespace before put() compacts


def default_cache_dir() -> Path:
    """``$KOSBERT_VIZ_CACHE`` or the user cache dir (``~/.cache/kosbert_viz/embeddings``)."""
    env = os.environ.get("KOSBERT_VIZ_CACHE")
    if env:
        return Path(env).expanduser()
    try:
        from platformdirs import user_cache_dir

        return Path(user_cache_dir("kosbert_viz")) / "embeddings"
    except ImportError:  # pragma: no cover - platformdirs is a core dependency
        return Path.home() / ".cache" / "kosbert_viz" / "embeddings"


def normalize_text(text: str) -> str:
    """The form a text is cached and encoded in: Unicode NFC, lone surrogates as U+FFFD."""
    from kosbert_viz._util.validation import normalize_text as _normalize

    return _normalize(text)


def text_keys(fingerprint: str, texts: Iterable[str]) -> np.ndarray:
    """128-bit cache keys (``dtype='S16'``) of ``texts`` for a model fingerprint.

    The key is a BLAKE2b hash keyed by the fingerprint over the NFC text, so the
    same text under another model never collides.

    >>> text_keys("fp", ["가", "가"]).shape
    (2,)
    """
    salt = fingerprint.encode("utf-8")[:64]
    out = bytearray()
    blake = hashlib.blake2b
    nfc = unicodedata.normalize
    for text in texts:
        out += blake(nfc("NFC", text).encode("utf-8", "surrogatepass"), digest_size=16, key=salt).digest()
    return np.frombuffer(bytes(out), dtype="S16")


class EmbeddingCache:
    """Embedding vectors on disk, keyed by model fingerprint and NFC text.

    Parameters
    ----------
    path : str or Path, optional
        Cache folder. Default: ``$KOSBERT_VIZ_CACHE`` or the user cache dir.
    dtype : {"float32", "float16"}
        Storage precision. ``float16`` halves the disk size but returns vectors
        rounded to half precision; it is kept apart from ``float32`` entries, so a
        float32 cache never returns float16-rounded vectors.

    Example
    -------
    >>> import tempfile
    >>> cache = EmbeddingCache(tempfile.mkdtemp())
    >>> emb = kv.encode(texts, cache=cache)   # misses are encoded and stored
    >>> cache.info()["entries"] == len(set(texts))
    True
    """

    def __init__(self, path: str | os.PathLike | None = None, *, dtype: str = "float32"):
        if dtype not in DTYPE_CODES:
            raise ValueError(f"dtype must be 'float32' or 'float16', got {dtype!r}")
        from kosbert_viz._util.validation import check_cache_root

        self.path = check_cache_root(path if path is not None else default_cache_dir(), what="embedding cache folder")
        self.dtype = dtype
        self._indexes: dict[str, tuple[frozenset, NamespaceIndex]] = {}
        self._seg_keys: dict[str, tuple[Segment, np.ndarray]] = {}
        # per verified segment: the running CRC32 of its vector block at the end of each CRC_CHUNK bytes,
        # so that any bytes read again from disk are checked again (a segment may be damaged after a read)
        self._crc_marks: dict[str, np.ndarray] = {}
        self._unreadable_warned = False
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.path)!r}, dtype={self.dtype!r})"

    # -- layout -----------------------------------------------------------------
    @property
    def _root(self) -> Path:
        return self.path / FORMAT

    def namespace(self, fingerprint: str) -> str:
        """Folder name for a model fingerprint at this cache's storage dtype."""
        return hashlib.blake2b(f"{fingerprint}|{self.dtype}".encode(), digest_size=16).hexdigest()

    def _ns_dir(self, fingerprint: str) -> Path:
        return self._root / self.namespace(fingerprint)

    # -- reading ----------------------------------------------------------------
    def _index(self, ns_dir: Path) -> NamespaceIndex:
        """The namespace's index, re-read only when its segment list changed."""
        try:
            names = frozenset(p.name for p in os.scandir(ns_dir) if p.name.endswith(".kvs"))
        except (FileNotFoundError, NotADirectoryError):
            names = frozenset()
        except PermissionError as exc:  # a folder we may not list: every look-up is a miss
            if not self._unreadable_warned:
                warnings.warn(
                    f"kosbert_viz cache at {self.path} is not readable ({exc.strerror}: {exc.filename}); "
                    "every text counts as a miss",
                    RuntimeWarning,
                    stacklevel=4,
                )
                self._unreadable_warned = True
            names = frozenset()
        key = str(ns_dir)
        cached = self._indexes.get(key)
        if cached is not None and cached[0] == names:
            return cached[1]
        segments, keys = [], []
        for name in sorted(names):
            path = ns_dir / name
            entry = self._seg_keys.get(str(path))
            if entry is None:
                try:
                    entry = read_segment_keys(path)
                except (FileNotFoundError, PermissionError):
                    continue  # compacted or pruned by another process meanwhile, or not ours to read
                except CorruptSegment as exc:
                    self._quarantine(path, str(exc))
                    continue
                self._seg_keys[str(path)] = entry
            segments.append(entry[0])
            keys.append(entry[1])
        index = NamespaceIndex(segments, keys)
        self._indexes[key] = (names, index)
        return index

    def _quarantine(self, path: Path, why: str) -> None:
        warnings.warn(
            f"kosbert_viz cache: segment {path.name} failed its checksum ({why}); its entries "
            "are treated as misses and will be re-encoded. The file was renamed to *.corrupt.",
            RuntimeWarning,
            stacklevel=4,
        )
        self._seg_keys.pop(str(path), None)
        self._crc_marks.pop(str(path), None)
        try:
            os.replace(path, path.with_suffix(".corrupt"))
        except OSError:
            pass

    def _read_vectors(self, seg: Segment) -> np.ndarray:
        """The segment's whole vector block, read from disk and checked against its checksum."""
        block = np.empty((seg.count, seg.dim), seg.dtype)
        self._read_block(seg, block)
        return block

    def _read_block(self, seg: Segment, target: np.ndarray) -> None:
        """Read the whole vector block into ``target`` and verify it; remember its running CRCs."""
        self._crc_marks[str(seg.path)] = read_block(seg, target)

    def _read_rows(self, seg: Segment, marks: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``rows`` of a verified segment, reading (and re-checking) only the chunks that hold them."""
        return read_rows(seg, marks, rows)

    def _fill_from(self, seg: Segment, rows: np.ndarray, dest: np.ndarray, out: np.ndarray) -> None:
        """Copy stored rows into ``out[dest]``; every byte read from disk is checked against the checksum.

        Whole segments read in order go straight from the file into ``out``; large shares are read
        whole then scattered; a few rows of a segment verified before are read with the chunks that
        hold them, each re-checked against the running CRCs kept when the segment was verified.
        """
        n = len(rows)
        marks = self._crc_marks.get(str(seg.path))
        if marks is not None and n * 4 < seg.count:
            out[dest] = self._read_rows(seg, marks, rows)
            return
        whole_in_order = (
            n == seg.count
            and seg.dtype == np.float32
            and rows[0] == 0
            and dest[-1] - dest[0] == n - 1
            and bool((np.diff(rows) == 1).all())
            and bool((np.diff(dest) == 1).all())
        )
        target = out[dest[0] : dest[0] + n] if whole_in_order else np.empty((seg.count, seg.dim), seg.dtype)
        self._read_block(seg, target)
        if not whole_in_order:
            out[dest] = target[rows]

    def get(self, fingerprint: str, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Look up many keys at once.

        Returns ``(vectors, found)``: a float32 array of shape ``(len(keys), dim)``
        (zeros where missing; ``dim`` is 0 when nothing is stored for the model) and a
        boolean mask of the hits.
        """
        keys = np.asarray(keys, dtype="S16")
        ns_dir = self._ns_dir(fingerprint)
        for attempt in range(3):
            with self._lock:
                index = self._index(ns_dir)
                if len(index) == 0:
                    return np.zeros((len(keys), 0), np.float32), np.zeros(len(keys), bool)
                pos, found = index.lookup(keys)
                dim = index.segments[0].dim
                out = np.empty((len(keys), dim), np.float32)  # every row is filled or zeroed below
                hit = np.flatnonzero(found)
                seg_of_hit = index.seg[pos[hit]]
                try:
                    self._gather(index, hit, seg_of_hit, index.row[pos[hit]], out, found)
                except FileNotFoundError:
                    self._indexes.pop(str(ns_dir), None)  # a segment was compacted away: re-read
                    continue
                out[~found] = 0.0
            return out, found
        raise RuntimeError(f"cache at {self.path} kept changing under the reader; try again")

    def _gather(self, index, hit, seg_of_hit, rows, out, found) -> None:
        order = np.argsort(seg_of_hit, kind="stable")
        bounds = np.flatnonzero(np.diff(seg_of_hit[order])) + 1
        groups = np.split(order, bounds) if len(order) else []
        corrupt: list[Segment] = []

        def fill(group: np.ndarray) -> None:
            seg = index.segments[seg_of_hit[group[0]]]
            try:
                self._fill_from(seg, rows[group], hit[group], out)
            except CorruptSegment:
                corrupt.append(seg)
                found[hit[group]] = False
                return
            touch(seg.path)

        if len(groups) > 1:
            with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
                list(pool.map(fill, groups))
        else:
            for g in groups:
                fill(g)
        for seg in corrupt:
            self._quarantine(seg.path, "bad vector checksum")
        if corrupt:
            self._indexes.clear()

    def contains(self, fingerprint: str, keys: np.ndarray) -> np.ndarray:
        """Boolean mask of the keys that are stored, without reading vectors."""
        with self._lock:
            return self._index(self._ns_dir(fingerprint)).lookup(np.asarray(keys, dtype="S16"))[1]

    # -- writing ----------------------------------------------------------------
    def put(
        self,
        fingerprint: str,
        keys: np.ndarray,
        vectors: np.ndarray,
        *,
        model: str | None = None,
        details: dict | None = None,
    ) -> int:
        """Store vectors under keys; returns the number of new entries written.

        Keys already stored (or repeated within the call) are skipped. The batch
        becomes visible atomically. Raises :class:`CacheFullError` when the disk is
        full and :class:`CacheNotWritableError` when the folder cannot be written (both are
        :class:`CacheWriteError`); entries stored earlier stay intact.
        """
        keys = np.asarray(keys, dtype="S16")
        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or len(vectors) != len(keys):
            raise ValueError(f"vectors must have shape (len(keys), dim), got {vectors.shape} for {len(keys)} keys")
        if not np.isfinite(vectors).all():
            raise ValueError("refusing to cache vectors that contain NaN or inf")
        ns_dir = self._ns_dir(fingerprint)
        with self._lock:
            _, first = np.unique(keys, return_index=True)
            first.sort()
            keys, vectors = keys[first], vectors[first]
            new = ~self.contains(fingerprint, keys)
            index = self._index(ns_dir)
            if len(index) and index.segments[0].dim != vectors.shape[1]:
                raise ValueError(
                    f"vectors have dim {vectors.shape[1]}, but this cache holds dim "
                    f"{index.segments[0].dim} for fingerprint {fingerprint!r}"
                )
            keys, vectors = keys[new], vectors[new]
            if len(keys) == 0:
                return 0
            self._write_meta(ns_dir, fingerprint, vectors.shape[1], model, details)
            self._write_segment(ns_dir, keys, vectors.astype(self.dtype, copy=False))
            self._maybe_compact(ns_dir)
        return len(keys)

    def _write_meta(self, ns_dir: Path, fingerprint: str, dim: int, model, details) -> None:
        meta_path = ns_dir / "model.json"
        if meta_path.exists():
            return
        meta = {
            "format": FORMAT,
            "fingerprint": fingerprint,
            "model": model,
            "dim": int(dim),
            "dtype": self.dtype,
            "details": details or {},
            "created": time.time(),
        }
        atomic_write(ns_dir, meta_path, json.dumps(meta, ensure_ascii=False, indent=1).encode("utf-8"))

    def _write_segment(self, ns_dir: Path, keys: np.ndarray, vectors: np.ndarray) -> Path:
        return write_segment(ns_dir, keys, vectors, self.dtype)

    # -- housekeeping -----------------------------------------------------------
    @contextmanager
    def _ns_lock(self, ns_dir: Path, blocking: bool = True):
        ns_dir.mkdir(parents=True, exist_ok=True)
        with open(ns_dir / "lock", "a+b") as fh:
            try:
                import fcntl
            except ImportError:  # Windows: compaction is not run concurrently there
                yield True
                return
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _maybe_compact(self, ns_dir: Path) -> None:
        small = [p for p in ns_dir.glob("*.kvs") if file_size(p) < _SMALL_SEGMENT]
        if len(small) >= _AUTO_COMPACT_AT:
            try:
                self._compact_dir(ns_dir, blocking=False)
            except OSError:  # opportunistic: the batch itself is stored; compaction is retried later
                pass

    def compact(self, *, max_segment_bytes: int = 256 << 20) -> int:
        """Merge small segments and drop duplicate entries; returns segments removed."""
        removed = 0
        for ns_dir in self._namespaces():
            removed += self._compact_dir(ns_dir, blocking=True, max_segment_bytes=max_segment_bytes)
        return removed

    def _compact_dir(self, ns_dir: Path, *, blocking: bool, max_segment_bytes: int = 256 << 20) -> int:
        with self._ns_lock(ns_dir, blocking=blocking) as locked:
            if not locked:
                return 0
            clean_tmp(ns_dir / "tmp")
            self._indexes.pop(str(ns_dir), None)
            index = self._index(ns_dir)
            candidates = [s for s in index.segments if s.size < max_segment_bytes // 2]
            groups, current, size = [], [], 0
            for seg in candidates:
                if current and size + seg.size > max_segment_bytes:
                    groups.append(current)
                    current, size = [], 0
                current.append(seg)
                size += seg.size
            if current:
                groups.append(current)
            removed = 0
            for group in groups:
                if len(group) < 2:
                    continue
                keys, vecs = [], []
                for seg in group:
                    try:
                        vecs.append(self._read_vectors(seg))
                    except CorruptSegment as exc:
                        self._quarantine(seg.path, str(exc))
                        continue
                    keys.append(self._seg_keys[str(seg.path)][1])
                if not keys:
                    continue
                all_keys, all_vecs = np.concatenate(keys), np.concatenate(vecs)
                _, first = np.unique(all_keys, return_index=True)
                first.sort()
                self._write_segment(ns_dir, all_keys[first], all_vecs[first])
                for seg in group:
                    unlink_quiet(seg.path)
                    self._seg_keys.pop(str(seg.path), None)
                    removed += 1
            self._indexes.pop(str(ns_dir), None)
            return removed

    def _namespaces(self) -> list[Path]:
        if not self._root.is_dir():
            return []
        return sorted(p for p in self._root.iterdir() if p.is_dir())

    def _meta(self, ns_dir: Path) -> dict:
        try:
            return json.loads((ns_dir / "model.json").read_text("utf-8"))
        except (OSError, ValueError):
            return {}

    def info(self) -> dict:
        """Entries, bytes and models in the cache.

        ``bytes`` counts the segments; ``tmp_files``/``tmp_bytes`` the files in ``tmp/``, whatever their
        age: left by interrupted writes (a ``kill -9``), or of a write in progress. ``compact()`` removes
        those older than an hour (a younger one may be a live writer's), ``clear()`` all of them.

        >>> import tempfile
        >>> cache = EmbeddingCache(tempfile.mkdtemp())
        >>> cache.put("fp1", text_keys("fp1", ["가"]), np.ones((1, 4), np.float32), model="demo")
        >>> info = cache.info()
        >>> info["entries"], [m["model"] for m in info["models"]]
        (1, ['demo'])
        """
        models, total_bytes, total_entries, total_tmp, total_tmp_bytes = [], 0, 0, 0, 0
        with self._lock:
            for ns_dir in self._namespaces():
                meta = self._meta(ns_dir)
                index = self._index(ns_dir)
                nbytes = sum(file_size(p) for p in ns_dir.glob("*.kvs"))
                corrupt = len(list(ns_dir.glob("*.corrupt")))
                tmp_sizes = [file_size(p) for p in (ns_dir / "tmp").glob("*.tmp")] if (ns_dir / "tmp").is_dir() else []
                models.append(
                    {
                        "model": meta.get("model"),
                        "fingerprint": meta.get("fingerprint"),
                        "namespace": ns_dir.name,
                        "dim": meta.get("dim"),
                        "dtype": meta.get("dtype"),
                        "entries": len(index),
                        "bytes": nbytes,
                        "segments": len(index.segments),
                        "corrupt_segments": corrupt,
                        "tmp_files": len(tmp_sizes),
                        "tmp_bytes": sum(tmp_sizes),
                    }
                )
                total_bytes += nbytes
                total_entries += len(index)
                total_tmp += len(tmp_sizes)
                total_tmp_bytes += sum(tmp_sizes)
        return {
            "path": str(self.path),
            "entries": total_entries,
            "bytes": total_bytes,
            "models": models,
            "tmp_files": total_tmp,
            "tmp_bytes": total_tmp_bytes,
        }

    def clear(self, model: str | None = None) -> int:
        """Delete every entry, or only those of ``model`` (a model name or fingerprint).

        Returns the number of entries removed.
        """
        removed = 0
        with self._lock:
            for ns_dir in self._namespaces():
                meta = self._meta(ns_dir)
                if model is not None and model not in (meta.get("model"), meta.get("fingerprint"), ns_dir.name):
                    continue
                removed += len(self._index(ns_dir))
                for p in list(ns_dir.glob("*.kvs")) + list(ns_dir.glob("*.corrupt")):
                    unlink_quiet(p)
                    self._seg_keys.pop(str(p), None)
                self._indexes.pop(str(ns_dir), None)
                clean_tmp(ns_dir / "tmp", max_age=0)
                unlink_quiet(ns_dir / "model.json")
                unlink_quiet(ns_dir / "lock")
                for d in (ns_dir / "tmp", ns_dir):
                    try:
                        d.rmdir()
                    except OSError:
                        pass
        return removed

    def prune(self, max_bytes: int) -> int:
        """Delete least recently used segments until the cache holds <= ``max_bytes``.

        Recency is tracked per segment (one ``put`` batch or a merged group).
        Returns the number of bytes freed.
        """
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        segs = []
        for ns_dir in self._namespaces():
            for p in ns_dir.glob("*.kvs"):
                try:
                    st = p.stat()
                except FileNotFoundError:
                    continue
                segs.append((max(st.st_atime, st.st_mtime), st.st_size, p))
        total = sum(s for _, s, _ in segs)
        freed = 0
        with self._lock:
            for _, size, p in sorted(segs, key=lambda t: (t[0], t[2].name)):
                if total - freed <= max_bytes:
                    break
                unlink_quiet(p)
                self._seg_keys.pop(str(p), None)
                freed += size
            self._indexes.clear()
        return freed
