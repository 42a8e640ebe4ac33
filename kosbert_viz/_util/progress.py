"""Stage progress for reduce / cluster / keywords: a tqdm.auto bar plus timed log lines.

>>> with Stages(["knn graph", "umap 5-d"], show=True) as st:
...     with st("knn graph"):
...         ...
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager

log = logging.getLogger("kosbert_viz")

# Inputs at least this large show a bar by default (their stages take seconds).
SHOW_ABOVE = 5000


def want_progress(show, n: int) -> bool:
    return bool(show) if show is not None else n >= SHOW_ABOVE


class Stages:
    """One bar whose steps are named stages; every finished stage is also logged with its time."""

    def __init__(self, names, *, show: bool, desc: str = "kosbert_viz"):
        self.names = list(names)
        self.show = show
        self.desc = desc
        self.timings: dict[str, float] = {}
        self._bar = None

    def __enter__(self):
        if self.show:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=len(self.names), desc=self.desc, unit="stage", leave=False)
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.close()
        return False

    @contextmanager
    def __call__(self, name: str, detail: str = ""):
        if self._bar is not None:
            self._bar.set_postfix_str(name + (f" ({detail})" if detail else ""))
        t = time.perf_counter()
        try:
            yield
        finally:
            dt = time.perf_counter() - t
            self.timings[name] = self.timings.get(name, 0.0) + dt
            log.info("%s: %s%s took %.1f s", self.desc, name, f" ({detail})" if detail else "", dt)
            if self._bar is not None:
                self._bar.update(1)

    def skip(self, name: str, why: str = "cached"):
        self.timings.setdefault(name, 0.0)
        log.info("%s: %s %s", self.desc, name, why)
        if self._bar is not None:
            self._bar.set_postfix_str(f"{name} ({why})")
            self._bar.update(1)
