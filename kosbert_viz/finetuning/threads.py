"""How many CPU threads torch trains on: measured on the first steps of a run, or pinned.

A trainer callback for :func:`kv.finetune`; torch and transformers are imported on use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import TrainerCallback

import logging
import time

log = logging.getLogger("kosbert_viz")

#: torch's thread setting -> (the faster count, when a run ended): reused for this long, as the encoder's trial is
_THREAD_MEMO: dict[int, tuple[int, float]] = {}
THREAD_MEMO_SECONDS = 120.0


def thread_trial_callback(threads: int | None) -> TrainerCallback:
    """A trainer callback that sets torch's CPU thread count: ``threads`` if given, else measured.

    With every core busy elsewhere, torch's OpenMP threads wait on each other: on this project's
    busy 2-core machine sentence-transformers' trainer on torch's 2 threads trained a tiny BERT 10-13x
    slower than on 1 (benchmarks/bench_finetune.py; the encoder measured the same, README). So one warm-up step and one measured step run on 1 thread, one step on torch's
    setting, and the faster is kept for the rest of the run (one step at most pays for a slow
    setting). A run that starts within 2 minutes of one that measured reuses its choice. The caller's
    setting is restored at the end. ``threads=`` pins the count instead
    (bit-identical resumes are tested with a pinned count).
    """
    import torch
    from transformers import TrainerCallback

    class ThreadTrial(TrainerCallback):
        def __init__(self):
            self.user = None
            self.times: dict[int, float] = {}
            self.seen = 0
            self.t0 = 0.0
            self.chosen = threads

        def on_train_begin(self, args, state, control, **kwargs):
            self.user = torch.get_num_threads()
            memo = _THREAD_MEMO.get(self.user)
            if threads is not None:
                torch.set_num_threads(int(threads))
            elif self.user == 1 or args.device.type != "cpu":
                self.chosen = self.user
            elif memo is not None and time.monotonic() - memo[1] < THREAD_MEMO_SECONDS:
                self.chosen = memo[0]  # measured by a run that ended moments ago: no new trial
                torch.set_num_threads(self.chosen)
            else:
                torch.set_num_threads(1)

        def on_step_begin(self, args, state, control, **kwargs):
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            dt = time.perf_counter() - self.t0
            self.seen += 1
            if self.chosen is not None:
                return
            if self.seen == 2:  # step 1 warmed up on 1 thread, step 2 measured on it
                self.times[1] = dt
                torch.set_num_threads(self.user)
            elif self.seen == 3:  # step 3 on torch's setting: one step at most where many threads are slow
                self.times[self.user] = dt
                self.chosen = min(self.times, key=self.times.get)
                torch.set_num_threads(self.chosen)
                log.info(
                    "kosbert_viz: training on %d CPU thread(s) (seconds per step: %s)",
                    self.chosen,
                    {t: round(v, 4) for t, v in self.times.items()},
                )

        def on_train_end(self, args, state, control, **kwargs):
            if self.user is not None:
                if threads is None and self.chosen is not None and args.device.type == "cpu":
                    _THREAD_MEMO[self.user] = (self.chosen, time.monotonic())
                torch.set_num_threads(self.user)

    return ThreadTrial()
