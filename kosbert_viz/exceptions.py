"""Every public error of kosbert_viz, in one place (each is also ``kv.<Name>``).

>>> issubclass(DateError, ValueError)
True
"""

from __future__ import annotations

__all__ = [
    "CacheFullError",
    "CacheNotWritableError",
    "CacheWriteError",
    "DateError",
    "HangulFontMissing",
    "LevelError",
    "MapFileError",
    "MissingEmbeddingsError",
    "ModelLoadError",
    "ModelMismatchError",
    "NotATextError",
    "TableError",
]


class DateError(ValueError):
    """A column of dates that cannot be read: the message names the first bad row and the formats tried."""


class HangulFontMissing(RuntimeError):
    """No installed font covers Hangul, so an exported image would show boxes."""


class MissingEmbeddingsError(LookupError):
    """Some texts have no vector in the cache for this model."""


class CacheWriteError(OSError):
    """The cache could not store new entries (entries stored before are intact and still read).

    ``encode()`` catches it: it warns once and returns the vectors it computed, uncached.
    """


class CacheFullError(CacheWriteError):
    """Raised when the cache cannot write because the disk (or quota) is full."""


class CacheNotWritableError(CacheWriteError):
    """Raised when the cache folder cannot be written: no permission, a read-only file system, or a
    file where a folder should be."""


class ModelLoadError(OSError):
    """The sentence-transformers model could not be loaded (no network, not cached, bad path)."""


class LevelError(ValueError):
    """A theme level that the theme tree does not have (``level=`` of ``map_texts``, ``topics_over_time``,
    ``explore`` and a result's methods; ``--level``)."""


class MapFileError(ValueError):
    """A saved map folder is missing, incomplete, corrupt or of an unknown format version."""


class ModelMismatchError(ValueError):
    """A map is used with an encoder other than the one that made it."""


class TableError(ValueError):
    """The file exists but cannot be read as a table (empty, header only, undecodable, malformed)."""


class NotATextError(TypeError):
    """A row of ``texts`` is not a string (None, NaN, pd.NA, a number)."""
