"""Fine-tuning the encoder on the analyst's own pairs (sentence-transformers' trainer)."""

from kosbert_viz._util.lazy import lazy_attributes

__all__ = ["FinetuneResult", "finetune", "pairs_from_duplicates", "pairs_from_labels"]
__getattr__ = lazy_attributes(
    __name__,
    {"FinetuneResult": "card", "finetune": "train", "pairs_from_duplicates": "pairs", "pairs_from_labels": "pairs"},
    submodules={"batching", "card", "checkpoints", "data", "pairs", "recipe", "threads", "train"},
)
