"""``kosbert-viz evaluate korsts``: the model card's KorSTS table."""

from __future__ import annotations

import json

from kosbert_viz.cli.common import MODEL_HINT, CLIError

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    """The ``evaluate`` sub-command and its options."""
    ev = sub.add_parser("evaluate", help="reproduce the model card's KorSTS table (8 correlations)")
    ev.add_argument("task", choices=["korsts"])
    ev.add_argument("path", help="the KorSTS folder (with sts-test.tsv) or one of its .tsv files")
    ev.add_argument(
        "--split",
        default=None,
        choices=["train", "dev", "test"],
        help="for a folder: which sts-SPLIT.tsv (default: test)",
    )
    ev.add_argument("--model", default=None, help="model name or folder (default: $KOSBERT_VIZ_MODEL or ko-sbert)")
    ev.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "fp16", "bf16", "int8"],
        help="auto: int8 on a CPU (within cosine 0.999 of fp32); fp32 scores the exact vectors, as the model card",
    )
    ev.add_argument("--cache-dir", default=None)
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from kosbert_viz.embed.models import ModelLoadError
    from kosbert_viz.evaluate import load_korsts, sts, sts_table

    given = Path(args.path)
    if given.is_dir() or not given.exists():
        label = args.split or "test"
    else:  # a file: its name says what it is
        label = given.name
        if args.split and given.name != f"sts-{args.split}.tsv":
            raise CLIError(
                f"--split {args.split} names a file of a KorSTS folder, but {args.path} is a file: "
                "leave --split out, or give the folder"
            )
    try:
        pairs = load_korsts(args.path, split=args.split or "test")
    except (FileNotFoundError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    try:
        result = sts(
            pairs["sentence1"],
            pairs["sentence2"],
            pairs["score"],
            model=args.model,
            cache=args.cache_dir or "auto",
            precision=args.precision,
        )
    except ModelLoadError as exc:
        raise ModelLoadError(f"{exc}\n{MODEL_HINT['evaluate']}") from None
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    from kosbert_viz.embed.models import resolve_model_name

    table = sts_table(result)
    model = resolve_model_name(args.model)[0]
    print(f"KorSTS {label}: {result['n_pairs']:,} pairs, model {model}, precision {args.precision} (x100)")
    print(table.to_string())
    if "model_card_spearman" in table:
        print("(model_card_*: the published KorSTS test figures of jhgan/ko-sbert-multitask, for comparison)")
    return 0
