"""Batch samplers for sentence-transformers' trainer: one batch size per data kind, reproducible order.

MNRL data gets batches without duplicate texts (a duplicate would be a false in-batch negative),
scored pairs a shuffled batch whose order depends only on the seed and the epoch, so a resumed run
sees the same batches as an uninterrupted one. sentence-transformers and torch are imported on use.
"""

from __future__ import annotations


class TaskBatchSampler:
    """The batch sampler of each task: no duplicate texts in a batch for MNRL (sentence-transformers'
    ``NoDuplicatesBatchSampler``), a shuffled batch for cosine pairs; each with its own batch size.

    Called by the trainer for every data set (sentence-transformers' callable ``batch_sampler``).
    """

    def __init__(self, batch_sizes: dict):
        self.batch_sizes = dict(batch_sizes)  # kind -> batch size

    def __call__(self, dataset, batch_size, drop_last, valid_label_columns=None, generator=None, seed=0):
        from sentence_transformers.base.sampler import NoDuplicatesBatchSampler

        if "score" in dataset.column_names:
            return _SeededBatchSampler(
                dataset,
                batch_size=self.batch_sizes.get("scored", batch_size),
                drop_last=drop_last,
                valid_label_columns=valid_label_columns,
                generator=generator,
                seed=seed,
            )
        kind = "triplets" if "negative" in dataset.column_names else "pairs"
        return NoDuplicatesBatchSampler(
            dataset,
            batch_size=self.batch_sizes.get(kind, batch_size),
            drop_last=drop_last,
            valid_label_columns=valid_label_columns,
            generator=generator,
            seed=seed,
        )

    def __repr__(self) -> str:
        return f"TaskBatchSampler({self.batch_sizes})"


def _seeded_batch_sampler_class():
    from sentence_transformers.base.sampler import DefaultBatchSampler

    class SeededBatchSampler(DefaultBatchSampler):
        """sentence-transformers' default (shuffled) batch sampler, reshuffled from ``seed + epoch``.

        The stock one draws each epoch's order from a generator seeded once, so a run resumed in
        epoch 3 would replay epoch 1's order; this one gives every epoch the same order whether
        the run was interrupted or not (as ``NoDuplicatesBatchSampler`` does).
        """

        def __init__(self, dataset, batch_size, drop_last, valid_label_columns=None, generator=None, seed=0):
            import torch

            self._generator = generator if generator is not None else torch.Generator()
            super().__init__(
                range(len(dataset)),
                batch_size=batch_size,
                drop_last=drop_last,
                valid_label_columns=valid_label_columns,
                generator=self._generator,
                seed=seed,
            )
            self.n = len(dataset)

        def __iter__(self):
            import torch

            self._generator.manual_seed(int(self.seed or 0) + int(self.epoch))
            order = torch.randperm(self.n, generator=self._generator).tolist()
            for start in range(0, self.n, self.batch_size):
                batch = order[start : start + self.batch_size]
                if len(batch) < self.batch_size and self.drop_last:
                    return
                yield batch

    return SeededBatchSampler


def _SeededBatchSampler(*args, **kwargs):  # noqa: N802 - a class built on first use (lazy import)
    global _SEEDED
    if _SEEDED is None:
        _SEEDED = _seeded_batch_sampler_class()
    return _SEEDED(*args, **kwargs)


_SEEDED = None
