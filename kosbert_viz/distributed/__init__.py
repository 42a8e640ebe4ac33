"""Encoding and assigning beyond one machine on Ray."""
from kosbert_viz._util.lazy import lazy_attributes

__all__ = ["EncodeResult", "assign_dataset", "encode_dataset", "load_embeddings"]
__getattr__ = lazy_attributes(__name__, {"EncodeResult": "jobs", "assign_dataset": "jobs", "encode_dataset": "jobs", "load_embeddings": "jobs"},
                              submodules={"jobs"})
