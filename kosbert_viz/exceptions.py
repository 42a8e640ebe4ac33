"""Public errors of kosbert_viz (the home for new ones; older modules still define theirs, see issue 24).

>>> issubclass(DateError, ValueError)
True
"""
from __future__ import annotations

__all__ = ["DateError"]


class DateError(ValueError):
    """A column of dates that cannot be read: the message names the first bad row and the formats tried."""
