"""``kosbert-viz cache``: inspect or clean the embedding cache."""

from __future__ import annotations

import argparse
import json
import re

from kosbert_viz.cli.common import CLIError

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    """The ``cache`` sub-command and its options."""
    cache = sub.add_parser(
        "cache",
        help="inspect or clean the embedding cache",
        description="info: entries, size and models of the cache, and the int8 exports; clear: remove every "
        "entry (or --model's), and without --cache-dir the int8 exports too; prune: drop the least recently "
        "used entries down to --max-bytes; compact: merge small segment files and remove stale temp files",
    )
    cache.add_argument("action", choices=["info", "clear", "prune", "compact"])
    cache.add_argument("--cache-dir", default=None, help="default: $KOSBERT_VIZ_CACHE or the user cache dir")
    cache.add_argument("--model", default=None, help="clear only this model (name or fingerprint)")
    cache.add_argument("--max-bytes", type=parse_size, default=None, help="prune down to this size, e.g. 2GB")
    cache.add_argument("--json", action="store_true")
    cache.set_defaults(func=run)


def run(args) -> int:
    from kosbert_viz.embed.cache import EmbeddingCache
    from kosbert_viz.embed.onnx import clear_exports, exports_info

    cache = EmbeddingCache(args.cache_dir)
    if args.action == "info":
        info = cache.info()
        info["int8_exports"] = exports_info()
        if args.json:
            print(json.dumps(info, ensure_ascii=False, indent=2))
            return 0
        print(f"cache: {info['path']}\nentries: {info['entries']:,}  size: {info['bytes'] / 2**20:.1f} MiB")
        for m in info["models"]:
            print(
                f"  {m['model']}  [{m['fingerprint']}]  dim={m['dim']} {m['dtype']}  "
                f"entries={m['entries']:,}  {m['bytes'] / 2**20:.1f} MiB  segments={m['segments']}"
                + (f"  corrupt={m['corrupt_segments']}" if m["corrupt_segments"] else "")
            )
        ex = info["int8_exports"]
        print(
            f"int8 exports (the CPU default's models, made once each): {ex['exports']}, "
            f"{ex['bytes'] / 2**20:.1f} MiB in {ex['path']}; `cache clear` (without --cache-dir) removes them too"
        )
        if info.get("tmp_files"):
            print(
                f"temp files left by interrupted writes (or a write in progress): {info['tmp_files']:,}, "
                f"{info['tmp_bytes'] / 2**20:.1f} MiB; `cache compact` removes those over an hour old"
            )
    elif args.action == "clear":
        n = cache.clear(model=args.model)
        print(f"removed {n:,} entries" + (f" of {args.model}" if args.model else ""))
        if args.model is not None and n == 0:
            print(f"(this cache holds nothing of {args.model!r}; `kosbert-viz cache info` lists its models)")
        if args.model is None and args.cache_dir is None:  # the user's own cache: its int8 exports go too
            ex = clear_exports()
            print(
                f"removed {ex['exports']} int8 exports ({ex['bytes'] / 2**20:.1f} MiB; each is made again on next use)"
            )
        elif args.model is None:  # another folder was named: the user cache's exports are not in it
            print(f"int8 exports kept (in {exports_info()['path']}: `cache clear` without --cache-dir removes them)")
    elif args.action == "prune":
        if args.max_bytes is None:
            raise CLIError("cache prune needs --max-bytes (e.g. --max-bytes 2GB)")
        freed = cache.prune(args.max_bytes)
        print(f"freed {freed / 2**20:.1f} MiB; cache now {cache.info()['bytes'] / 2**20:.1f} MiB")
    elif args.action == "compact":
        print(f"merged away {cache.compact()} segments")
    return 0


def parse_size(text: str) -> int:
    """--max-bytes: '500MB', '2GB', '1.5GiB' or a byte count."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*", text.lower())
    if not m:
        raise argparse.ArgumentTypeError(f"expected a size such as 500MB or 2GB, got {text!r}")
    unit = (m.group(2) or "b").rstrip("b").rstrip("i")
    return int(float(m.group(1)) * 1024 ** " kmgt".index(unit or " "))
