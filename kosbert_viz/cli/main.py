"""The ``kosbert-viz`` command.

    kosbert-viz demo [-o report.html]
    kosbert-viz map reviews.csv --text-col review [--label-col topic] -o report.html [--csv themes.csv]
    kosbert-viz map reviews.csv --text-col review --time-col date [--freq M] --class-col product
    kosbert-viz map may.csv --text-col review --save-map maps/may      (then: kosbert-viz assign maps/may june.csv)
    kosbert-viz assign MAP_DIR new.csv --text-col review [-o batch.html] [--csv out.csv]
                       [--time-col date] [--class-col product]
    kosbert-viz cache info | clear [--model NAME] | prune --max-bytes 2GB
    kosbert-viz evaluate korsts path/to/KorSTS [--model NAME]
    kosbert-viz finetune pairs.csv -o ./my-model [--model NAME] [--eval dev.csv] [--epochs N]

Every mistake a user can make (a bad file, a bad option, an output that cannot be written, no
model) ends in one ``error: ...`` line that says what to change, exit status 2, and is found
before any model is loaded or any text encoded. ``--debug`` shows the traceback of an unexpected error.
"""

from __future__ import annotations

import argparse
import os
import sys

from kosbert_viz.cli import assign, cache, demo, evaluate, finetune
from kosbert_viz.cli import map as map_command
from kosbert_viz.cli.common import CLIError

__all__ = ["build_parser", "main"]

#: The sub-commands in the order ``--help`` lists them; each module has add_parser(sub) and run(args).
COMMANDS = (demo, map_command, assign, cache, evaluate, finetune)


def build_parser() -> argparse.ArgumentParser:
    """The ``kosbert-viz`` argument parser: one sub-command per module of :mod:`kosbert_viz.cli`."""
    parser = argparse.ArgumentParser(prog="kosbert-viz", description="Maps of meaning for Korean text.")
    parser.add_argument(
        "--debug", action="store_true", default=False, help="show the Python traceback of an unexpected error"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    for command in sub.choices.values():  # `kosbert-viz map ... --debug` as well as `kosbert-viz --debug map ...`
        if "--debug" not in command._option_string_actions:
            command.add_argument(
                "--debug",
                action="store_true",
                default=argparse.SUPPRESS,
                help="show the Python traceback of an unexpected error",
            )
    return parser


def _known_errors() -> tuple:
    """Errors whose message already says what to do: printed as they are."""
    from kosbert_viz.embed.models import ModelLoadError
    from kosbert_viz.exceptions import LevelError
    from kosbert_viz.io.tables import TableError

    known = [CLIError, ModelLoadError, TableError, LevelError, OSError, ImportError]
    try:
        from kosbert_viz.embed.cache import CacheFullError

        known.append(CacheFullError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(known)


def main(argv=None) -> int:
    """Run ``kosbert-viz`` with ``argv`` (default: the command line); the exit status."""
    args = build_parser().parse_args(argv)
    debug = getattr(args, "debug", False) or os.environ.get("KOSBERT_VIZ_DEBUG", "") not in ("", "0")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        message = str(exc).strip() or type(exc).__name__
        if isinstance(exc, _known_errors()):
            print(f"error: {message}", file=sys.stderr)
        else:
            print(f"error: {type(exc).__name__}: {message}\n(run with --debug for the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
