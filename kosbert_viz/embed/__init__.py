"""Texts to vectors: model loading, the encode call, the fast engines (torch, ONNX) and the disk cache."""
from kosbert_viz._util.lazy import lazy_attributes

__all__ = ["CacheFullError", "CacheNotWritableError", "CacheWriteError", "DEFAULT_MODEL", "EmbeddingCache", "ModelLoadError", "OfflineEncoder", "encode", "load_encoder"]
__getattr__ = lazy_attributes(__name__, {"CacheFullError": "cache", "CacheNotWritableError": "cache", "CacheWriteError": "cache", "DEFAULT_MODEL": "models", "EmbeddingCache": "cache", "ModelLoadError": "models", "OfflineEncoder": "models", "encode": "encode", "load_encoder": "models"},
                              submodules={"arraystore", "cache", "encode", "engine", "models", "onnx"})
