"""What a fine-tuning run leaves: :class:`FinetuneResult`, the record file and the model card (README.md).

The record (``kosbert_viz_finetune.json``) holds the base model, the data hash, the recipe and the
STS numbers before and after; it is deterministic, as it is hashed into the folder's fingerprint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kosbert_viz import __version__
from kosbert_viz.evaluate import SIMILARITIES

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RECORD_FILE", "FinetuneResult"]

RECORD_FILE = "kosbert_viz_finetune.json"


@dataclass
class FinetuneResult:
    """What :func:`finetune` did: where the model is, the STS numbers before and after, the recipe.

    ``table`` is the model card's eight numbers (x100), before and after, one row per similarity.
    """

    output_dir: str
    base_model: str
    before: dict | None
    after: dict | None
    recipe: dict
    data_hash: str
    n_train: dict
    n_eval: int
    eval_source: str
    seconds: float
    train_seconds: float
    pairs_per_second: float
    training_loss: float | None = None
    resumed_from: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def table(self) -> pd.DataFrame:
        """A DataFrame: rows cosine/euclidean/manhattan/dot; pearson and spearman before, after, and gain."""
        import pandas as pd

        rows = []
        for kind in SIMILARITIES:
            row = {"similarity": kind}
            for stat in ("pearson", "spearman"):
                b = self.before[f"{stat}_{kind}"] if self.before else float("nan")
                a = self.after[f"{stat}_{kind}"] if self.after else float("nan")
                row.update(
                    {f"{stat}_before": round(b, 2), f"{stat}_after": round(a, 2), f"{stat}_gain": round(a - b, 2)}
                )
            rows.append(row)
        table = pd.DataFrame(rows).set_index("similarity")
        table.attrs["n_pairs"] = self.n_eval
        return table

    def __repr__(self) -> str:
        gain = ""
        if self.before and self.after:
            gain = f", cosine Spearman {self.before['spearman_cosine']:.2f} -> {self.after['spearman_cosine']:.2f}"
        return (
            f"FinetuneResult({self.output_dir!r}, base={self.base_model!r}, pairs={sum(self.n_train.values())}, "
            f"epochs={self.recipe['epochs']}{gain})"
        )


def write_record(out: Path, res: FinetuneResult) -> None:
    """kosbert_viz_finetune.json (deterministic: hashed into the folder's fingerprint) and README.md."""
    record = {
        "base_model": res.base_model,
        "data_hash": res.data_hash,
        "recipe": res.recipe,
        "before": res.before,
        "after": res.after,
        "kosbert_viz": __version__,
    }
    (out / RECORD_FILE).write_text(
        json.dumps(record, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    r = res.recipe
    lines = [
        "---",
        "library_name: sentence-transformers",
        f"base_model: {res.base_model}",
        "tags: [sentence-transformers, sentence-similarity, korean, kosbert_viz]",
        "language: [ko]",
        "---",
        "",
        f"# {out.name}",
        "",
        f"Fine-tuned from `{res.base_model}` with `kosbert_viz.finetune` (kosbert_viz {__version__}), "
        "following the recipe of the ko-sbert-multitask model card.",
        "",
        "```python",
        "import kosbert_viz as kv",
        f'emb = kv.encode(texts, model="{out.name}")',
        "```",
        "",
        "## Training data",
        "",
        f"- data hash (BLAKE2b of the training rows): `{res.data_hash}`",
    ]
    for name, n in r["n_train"].items():
        lines.append(
            f"- `{name}`: {n:,} {r['kinds'][name]} rows, {r['losses'][name]}, batch {r['batch_sizes'][name]} "
            f"({r['batch_samplers'][name]})"
        )
    lines += ["", "## Recipe", "", "| setting | value |", "|---|---|"]
    for key in (
        "epochs",
        "steps_per_epoch",
        "total_steps",
        "warmup_steps",
        "learning_rate",
        "weight_decay",
        "adam_epsilon",
        "max_grad_norm",
        "optimizer",
        "scheduler",
        "multi_dataset_batch_sampler",
        "precision",
        "random_state",
    ):
        lines.append(f"| {key} | {r[key]} |")
    if res.before and res.after:
        lines += [
            "",
            f"## Evaluation ({res.n_eval:,} scored pairs: {res.eval_source}; x100)",
            "",
            res.table.to_markdown() if _has_tabulate() else "```\n" + res.table.to_string() + "\n```",
        ]
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in r["versions"].items()), ""]
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401

        return True
    except ImportError:
        return False
