"""The Hugging Face hub, seen before a model loads: is it reachable (probed in seconds, not huggingface_hub's
~75 s of retries), is the model cached, and quiet retries while it loads.

>>> hub_preflight(".", "model=")  # a local folder: nothing to probe
{}
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from kosbert_viz.exceptions import ModelLoadError

__all__ = ["HUB_PROBE_TIMEOUT", "hf_snapshot", "hub_preflight", "quiet_hub_retries"]


def hf_snapshot(name: str) -> Path | None:
    """The local snapshot folder of a hub model, without network."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception:
        return None


HUB_PROBE_TIMEOUT = 2.5  # seconds; $KOSBERT_VIZ_HUB_TIMEOUT overrides it (0 turns the probe off)
_HUB_STATE: dict[str, tuple[float, str | None]] = {}  # endpoint -> (when probed, None if reachable else why not)


def _hub_settings() -> tuple[str, bool]:
    """(the hub endpoint, whether huggingface_hub is in offline mode), as huggingface_hub sees them."""
    try:
        from huggingface_hub import constants

        return constants.ENDPOINT, bool(constants.HF_HUB_OFFLINE)
    except ImportError:  # pragma: no cover - a dependency of sentence-transformers
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0", "false", "False")
        return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/"), offline


def _hub_unreachable(endpoint: str, timeout: float) -> str | None:
    """None when ``endpoint`` answers an HTTP request within ``timeout`` seconds, else why not.

    Any HTTP answer (even 404 or 5xx) and a TLS error (something answered, e.g. a proxy that
    re-signs certificates) count as reachable: huggingface_hub then reports the real problem. The
    request honours HTTP(S)_PROXY/NO_PROXY as huggingface_hub does; a thread bounds the DNS lookup too.
    Probed at most once a minute per endpoint.
    """
    now = time.monotonic()
    seen = _HUB_STATE.get(endpoint)
    if seen is not None and now - seen[0] < 60:
        return seen[1]
    import ssl
    import urllib.error
    import urllib.request

    outcome: list[str | None] = []
    silent = f"no answer within {timeout:g} s"

    def probe():
        try:
            req = urllib.request.Request(
                endpoint + "/api/models?limit=1", method="HEAD", headers={"User-Agent": "kosbert_viz-hub-probe"}
            )
            urllib.request.urlopen(req, timeout=timeout).close()
            outcome.append(None)
        except urllib.error.HTTPError:
            outcome.append(None)
        except urllib.error.URLError as exc:
            reason = exc.reason
            outcome.append(
                None
                if isinstance(reason, ssl.SSLError)
                else silent
                if isinstance(reason, TimeoutError)
                else f"{type(reason).__name__}: {reason}"
            )
        except ssl.SSLError:
            outcome.append(None)
        except TimeoutError:
            outcome.append(silent)
        except Exception as exc:  # resets, a malformed endpoint
            outcome.append(f"{type(exc).__name__}: {exc}")

    worker = threading.Thread(target=probe, name="kosbert_viz-hub-probe", daemon=True)
    worker.start()
    worker.join(timeout + 0.25)
    why = outcome[0] if outcome else silent
    _HUB_STATE[endpoint] = (time.monotonic(), why)
    return why


def _hub_timeout() -> float:
    raw = os.environ.get("KOSBERT_VIZ_HUB_TIMEOUT")
    if raw is None or not raw.strip():
        return HUB_PROBE_TIMEOUT
    try:
        return max(0.0, float(raw))
    except ValueError:
        raise ValueError(f"$KOSBERT_VIZ_HUB_TIMEOUT must be a number of seconds, got {raw!r}") from None


class _DropRetryNoise(logging.Filter):
    """huggingface_hub's per-attempt "Retrying in 8s [Retry 4/5]" lines (the final error is still raised)."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not (
            msg.startswith("Retrying in") or "thrown while requesting" in msg or msg.startswith("Rate limited. Waiting")
        )


@contextlib.contextmanager
def quiet_hub_retries() -> Iterator[None]:
    """Within it, huggingface_hub's per-attempt retry lines are dropped (its final error still comes)."""
    logger = logging.getLogger("huggingface_hub.utils._http")
    noise = _DropRetryNoise()
    logger.addFilter(noise)
    try:
        yield
    finally:
        logger.removeFilter(noise)


def _folder(name: str) -> str:
    """The local folder a hint suggests for a hub model: its own name (jhgan/ko-sbert-multitask: ko-sbert-multitask)."""
    return str(name).rstrip("/").split("/")[-1] or "model"


def _unreachable_error(name: str, source: str, endpoint: str, why: str) -> ModelLoadError:
    return ModelLoadError(
        f"Could not load the sentence-transformers model {name!r} (from {source}): it is not in the local "
        f"Hugging Face cache, and the hub {endpoint} cannot be reached ({why}).\n"
        "  Options:\n"
        "  - a local copy: on a machine with network run\n"
        f"      huggingface-cli download {name} --local-dir ./{_folder(name)}\n"
        f"    then pass model='./{_folder(name)}' (CLI: --model ./{_folder(name)}) or set "
        f"KOSBERT_VIZ_MODEL=./{_folder(name)};\n"
        "  - the offline encoder (lower Korean quality): model='offline' or kosbert_viz.OfflineEncoder() "
        "(CLI: --model offline, or --offline-fallback for `map`; `demo` falls back by default);\n"
        "  - behind a proxy: set HTTPS_PROXY; a mirror: set HF_ENDPOINT; cache only: set HF_HUB_OFFLINE=1."
    )


def hub_preflight(name: str, source: str) -> dict:
    """Fail over within seconds when the hub cannot be reached (before torch is even imported).

    A hub name (not a local folder) with downloads allowed: the hub is probed first (about 2.5 s at
    most). Unreachable and cached: the cached copy is then loaded without network
    (``local_files_only``). Unreachable and not cached: :class:`ModelLoadError` at once, instead of
    huggingface_hub's ~75 s of retries. Returns the extra ``SentenceTransformer`` arguments.
    """
    endpoint, offline = _hub_settings()
    timeout = _hub_timeout()
    if offline or timeout <= 0 or Path(name).expanduser().exists():
        return {}
    why = _hub_unreachable(endpoint, timeout)
    if why is None:
        return {}
    if hf_snapshot(name) is None:
        raise _unreachable_error(name, source, endpoint, why)
    return {"local_files_only": True}
