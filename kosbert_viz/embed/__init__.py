"""Texts to vectors: model loading, the encode call, the fast engines (torch, ONNX) and the disk cache."""

from kosbert_viz._util.lazy import lazy_attributes

__all__ = ["DEFAULT_MODEL", "EmbeddingCache", "OfflineEncoder", "encode", "load_encoder"]
__getattr__ = lazy_attributes(
    __name__,
    {
        "DEFAULT_MODEL": "models",
        "EmbeddingCache": "cache",
        "OfflineEncoder": "models",
        "encode": "encode",
        "load_encoder": "models",
    },
    submodules={"arraystore", "cache", "cache_format", "cache_index", "encode", "engine", "hub", "models", "onnx"},
)
