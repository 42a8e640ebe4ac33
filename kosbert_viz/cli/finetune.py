"""``kosbert-viz finetune``: adapt the encoder to a domain from a table of pairs."""

from __future__ import annotations

import sys
from pathlib import Path

from kosbert_viz.cli.common import CLIError, read_input

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    """The ``finetune`` sub-command and its options."""
    ft = sub.add_parser("finetune", help="adapt the model to your domain from a table of pairs (kv.finetune)")
    ft.add_argument("file", help="pairs: sentence1,sentence2,score (0-5 or 0-1) | anchor,positive[,negative]")
    ft.add_argument("-o", "--output", required=True, help="folder for the new model")
    ft.add_argument("--model", default=None, help="base model name or folder (default: $KOSBERT_VIZ_MODEL or ko-sbert)")
    ft.add_argument(
        "--eval",
        default=None,
        help="scored pairs for the before/after table (or a KorSTS folder); default: 10%% of scored training pairs",
    )
    ft.add_argument("--epochs", type=int, default=None, help="default: 5, fewer for large data (about 30k pairs seen)")
    ft.add_argument("--batch-size", type=int, default=None, help="default: 8 for scored pairs, 64 for pairs")
    ft.add_argument("--lr", type=float, default=None, help="learning rate (default 2e-5, the model card's)")
    ft.add_argument("--precision", default="auto", choices=["auto", "fp32", "fp16", "bf16"])
    ft.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in -o")
    ft.add_argument("--sep", default=None, help="field separator (default: detected)")
    ft.add_argument("--encoding", default=None, help="text encoding (default: detected)")
    ft.add_argument("--sheet", default=None, help="Excel sheet name, or its number from 0 (default: the first, 0)")
    ft.add_argument("--cache-dir", default=None)
    ft.add_argument("--quiet", action="store_true", help="no progress bar")
    ft.set_defaults(func=run)


def run(args) -> int:
    """Fine-tune the encoder on a table of pairs (kv.finetune) and print the before/after STS table."""
    from kosbert_viz.finetuning.data import as_tasks, check_eval
    from kosbert_viz.finetuning.train import finetune

    for value, flag in ((args.epochs, "--epochs"), (args.batch_size, "--batch-size")):
        if value is not None and value < (2 if flag == "--batch-size" else 1):
            raise CLIError(f"{flag} must be at least {2 if flag == '--batch-size' else 1}, got {value}")
    if args.lr is not None and not args.lr > 0:
        raise CLIError(f"--lr must be a positive number, got {args.lr}")
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise CLIError(f"-o {out} is a file, expected a folder for the new model")
    df, _ = read_input(args)
    try:
        tasks = as_tasks(df)
    except (ValueError, TypeError) as exc:
        raise CLIError(f"{args.file}: {exc}") from None
    evaluation = None
    if args.eval:
        path = Path(args.eval)
        if path.is_dir() or path.name.startswith("sts-"):  # KorSTS: tab-separated with quoting off
            from kosbert_viz.evaluate import load_korsts

            try:
                evaluation = load_korsts(path, split="dev")
            except (FileNotFoundError, ValueError) as exc:
                raise CLIError(str(exc)) from None
        else:
            from kosbert_viz.io.tables import TableError, read_table

            try:
                evaluation, _ = read_table(path)
            except (TableError, ValueError) as exc:
                raise CLIError(str(exc)) from None
        try:
            check_eval(evaluation)
        except (ValueError, TypeError) as exc:
            raise CLIError(f"--eval {args.eval}: {exc}") from None
    print(
        f"training on {sum(len(t) for t in tasks):,} {tasks[0].kind} rows from {args.file} ({tasks[0].loss_name})",
        file=sys.stderr,
    )
    try:
        res = finetune(
            df,
            args.model,
            output_dir=out,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.lr or 2e-5,
            eval=evaluation,
            resume=bool(args.resume),
            precision=args.precision,
            cache=args.cache_dir or "auto",
            show_progress_bar=None if not args.quiet else False,
        )
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None
    r = res.recipe
    print(f"model: {res.base_model} -> {Path(res.output_dir).resolve()}")
    print(
        f"recipe: {r['epochs']} epoch(s), {r['total_steps']} steps, warm-up {r['warmup_steps']}, "
        f"batch {r['batch_sizes']}, lr {r['learning_rate']:g}; {res.pairs_per_second:.1f} pairs/s"
    )
    if res.before and res.after:
        print(f"STS on {res.n_eval:,} pairs ({res.eval_source}), x100:")
        print(res.table.to_string())
    else:
        print(
            "no evaluation: too few scored pairs to hold out (a correlation needs at least 30); "
            "pass --eval dev.csv with sentence1, sentence2, score"
        )
    print(f"use it: kv.encode(texts, model={str(res.output_dir)!r})")
    return 0
