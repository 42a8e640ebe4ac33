"""Encode corpora larger than one machine with Ray Data, into the ordinary embedding cache.

A pool of Ray actors (one per GPU, or CPU actors where the cluster has none) each load
the model once and run the same encoding path as :func:`kosbert_viz.encode`. Every
actor looks its rows up in the cache, encodes only the misses and appends them as its
own immutable segment (the cache is safe for many writers); the run ends with a
``compact()``. Reading back is a cache look-up in the input's order:

>>> from kosbert_viz.distributed import encode_dataset
>>> run = encode_dataset("s3://bucket/reviews/*.parquet", model="jhgan/ko-sbert-multitask",
...                      cache="/shared/kv-cache", text_column="review",
...                      id_column="review_id")   # needs Ray and S3  # doctest: +SKIP
>>> emb = kv.load_embeddings("s3://bucket/reviews/*.parquet", run,
...                          text_column="review")   # needs S3  # doctest: +SKIP

* **Resumable**: a second run encodes nothing that is cached; a run stopped halfway
  keeps every finished batch (one batch = one cache segment) and continues from there.
* **Fault tolerant**: Ray restarts a dead actor and retries its batch (Ray Data's actor
  pools default to ``max_restarts=-1, max_task_retries=-1``). A retried batch finds the
  rows its predecessor already stored and skips them; the cache ignores repeated keys.
* **Connecting**: an existing Ray (``ray.init`` already called) is used as is;
  otherwise ``address=`` or ``$RAY_ADDRESS`` (``"auto"`` for the cluster this machine
  belongs to), else a local Ray on this machine. Nothing here starts cloud resources.
* On a cluster the cache folder must be storage every node sees (NFS, a shared
  volume), and the model name or folder must load on every node.

Needs ``pip install "kosbert_viz[distributed]"``. Modules: :mod:`.encode` (encode_dataset,
load_embeddings), :mod:`.assign` (assign_dataset), :mod:`.sources` (files and tables), :mod:`.session` (Ray).
"""

from kosbert_viz._util.lazy import lazy_attributes

__all__ = ["EncodeResult", "assign_dataset", "encode_dataset", "load_embeddings", "shutdown_ray"]
__getattr__ = lazy_attributes(
    __name__,
    {
        "EncodeResult": "encode",
        "assign_dataset": "assign",
        "encode_dataset": "encode",
        "load_embeddings": "encode",
        "shutdown_ray": "session",
    },
    submodules={"assign", "encode", "session", "sources"},
)
