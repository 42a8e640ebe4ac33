"""Adapt the encoder to your domain: fine-tune ko-sbert with the model card's recipe.

>>> scored = pd.DataFrame({"sentence1": ["배송이 늦어요", "환불해 주세요", "앱이 꺼져요", "택배가 안 와요"] * 4,
...                        "sentence2": ["배송 지연", "반품 처리 부탁", "날씨가 좋네요", "배송이 느려요"] * 4,
...                        "score": [4.5, 4.0, 0.5, 4.2] * 4})          # sentence1, sentence2, score (0-5 or 0-1)
>>> res = kv.finetune(scored, output_dir="my-model", epochs=1)   # base: $KOSBERT_VIZ_MODEL or ko-sbert
>>> res.table.columns.tolist()[:3]                               # the card's 8 numbers, before and after
['pearson_before', 'pearson_after', 'pearson_gain']
>>> new = kv.encode(texts[:5], model="my-model")                 # a normal sentence-transformers folder

``train`` can be scored pairs (CosineSimilarityLoss), ``(anchor, positive)`` pairs or
``(anchor, positive, negative)`` triplets (MultipleNegativesRankingLoss, scale 20, cosine,
batches without duplicate texts), or a dict of several for multi-task round-robin training,
as jhgan/ko-sbert-multitask was trained. Training runs in sentence-transformers' own
``SentenceTransformerTrainer`` (needs ``pip install "kosbert_viz[finetune]"``).

Training pairs from an analysis (near-duplicate groups, labelled themes) are made by
:mod:`kosbert_viz.finetuning.pairs`; the recipe is :mod:`~kosbert_viz.finetuning.recipe`'s.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np

from kosbert_viz._util.extras import require
from kosbert_viz._util.validation import check_positive_int
from kosbert_viz.embed.models import (
    OBJECT_ATTR,
    OFFLINE_ALIAS,
    OfflineEncoder,
    SentenceTransformerEncoder,
    forget_loaded,
    load_encoder,
    load_error,
    resolve_model_name,
)
from kosbert_viz.evaluate import sts
from kosbert_viz.finetuning.batching import TaskBatchSampler
from kosbert_viz.finetuning.card import FinetuneResult, write_record
from kosbert_viz.finetuning.checkpoints import (
    CHECKPOINT_DIR,
    our_checkpoints,
    output_folder,
    resume_point,
)
from kosbert_viz.finetuning.data import (
    Task,
    as_tasks,
    check_eval,
    hold_out,
    tasks_hash,
)
from kosbert_viz.finetuning.recipe import (
    CARD_RECIPE,
    LOSSES,
    default_recipe,
    resolve_precision,
)
from kosbert_viz.finetuning.threads import thread_trial_callback

__all__ = ["finetune"]

log = logging.getLogger("kosbert_viz")


def _require_training():
    require(
        "accelerate",
        "datasets",
        "sentence_transformers",
        extra="finetune",
        feature="kv.finetune (sentence-transformers' trainer)",
    )


def _load_base(model):
    """(a fresh SentenceTransformer to train, the base model's name, what to evaluate 'before' with)."""
    if isinstance(model, OfflineEncoder) or model == OFFLINE_ALIAS:
        raise TypeError(
            "the offline encoder (USE) cannot be fine-tuned, expected a sentence-transformers model: "
            "a hub name such as 'jhgan/ko-sbert-multitask' or a local model folder"
        )
    if isinstance(model, SentenceTransformerEncoder):
        model = model.model
    if model is not None and not isinstance(model, (str, os.PathLike)):
        if not (hasattr(model, "encode") and hasattr(model, "tokenize")):
            raise TypeError(
                f"model must be a model name, a folder or a SentenceTransformer, got {type(model).__name__}"
            )
        trained = copy.deepcopy(model)  # never change the caller's object (nor its cached fingerprint)
        trained.__dict__.pop(OBJECT_ATTR, None)
        name = str(
            getattr(model, "name_or_path", None)
            or getattr(model.model_card_data, "base_model", None)
            or type(model).__name__
        )
        return trained, name, model
    name, source = resolve_model_name(model)
    if name == OFFLINE_ALIAS:
        return _load_base(OFFLINE_ALIAS)
    from sentence_transformers import SentenceTransformer

    try:
        trained = SentenceTransformer(name, device="cpu")
    except Exception as exc:
        raise load_error(name, source, exc) from exc
    return trained, name, name


def _sts(task: Task, model, cache):
    """KorSTS-style scores of ``model`` in fp32: before and after compare the weights, not two precisions."""
    if isinstance(model, (str, os.PathLike)):
        model = load_encoder(model, precision="fp32")
    return sts(task.columns["sentence1"], task.columns["sentence2"], task.columns["score"], model=model, cache=cache)


def finetune(
    train,
    model=None,
    *,
    output_dir,
    loss: str = "auto",
    epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float = 2e-5,
    warmup_steps: int | None = None,
    eval=None,
    random_state: int = 42,
    resume=False,
    checkpoint_steps: int | None = None,
    keep_checkpoints: bool = False,
    precision: str = "auto",
    show_progress_bar: bool | None = None,
    threads: int | None = None,
    cache="auto",
) -> FinetuneResult:
    """Fine-tune a sentence-transformers model (default ko-sbert) with the model card's recipe.

    Parameters
    ----------
    train : DataFrame, list of tuples, or dict of them
        - scored pairs ``(sentence1, sentence2, score)``, scores 0-5 (KorSTS) or 0-1:
          CosineSimilarityLoss (scores scaled to 0-1), batch 8;
        - ``(anchor, positive)`` pairs or ``(anchor, positive, negative)`` triplets:
          MultipleNegativesRankingLoss (scale 20, cosine), batch 64 without duplicate texts;
        - a dict ``{name: data}`` of several: multi-task, one batch of each in turn (round robin).
        DataFrames are read by column name (``sentence1/sentence2/score``, ``anchor/positive[/negative]``)
        or, with 2-3 columns, by position.
    model : name, folder or SentenceTransformer (default ``$KOSBERT_VIZ_MODEL`` or ko-sbert); never changed.
    output_dir : folder for the new model (a normal sentence-transformers folder) and its checkpoints.
    loss : "auto" (by data kind), "cosine" (scored data only) or "mnrl" (pairs/triplets only).
    epochs, batch_size, warmup_steps : default to the card's recipe scaled to the data (see README).
    eval : scored pairs (at least 30) to compute the card's 8 STS numbers on before and after; default:
        10% of the scored training pairs held out, at least 30 and at most a quarter (none, with a
        warning, below 120 scored pairs; none when training on pairs only); ``False``: no evaluation.
    random_state : seeds the model's dropout, batch order and the held-out split.
    resume : True: continue from the latest checkpoint in ``output_dir``; a path: from that checkpoint.
    checkpoint_steps : save a checkpoint every N steps (default min(500, a tenth of the run)), in
        ``output_dir/checkpoints``; removed after a finished run unless ``keep_checkpoints=True``.
    precision : "auto" (bf16 or fp16 mixed precision on CUDA, fp32 on the CPU), "fp32", "fp16", "bf16".
    threads : CPU only: torch threads for training; default measured (torch's setting or 1, the faster).
    cache : embedding cache for the "before" evaluation of the base model (the new model's is never cached).

    Returns
    -------
    FinetuneResult with ``output_dir``, ``before``/``after`` (:func:`kv.sts` dicts), ``table``,
    ``recipe``, ``data_hash``, ``seconds`` and ``pairs_per_second``.

    Example
    -------
    Training a real model takes minutes, so the suite skips this one (the module's example trains):

    >>> res = kv.finetune(korsts_train, output_dir="ko-sbert-reviews", eval=korsts_dev)  # doctest: +SKIP
    >>> res.table.loc["cosine"]  # doctest: +SKIP
    """
    t_start = time.perf_counter()
    out = output_folder(output_dir)
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    epochs = check_positive_int(epochs, "epochs", allow_none=True)
    batch_size = check_positive_int(batch_size, "batch_size", minimum=2, allow_none=True)
    warmup_steps = check_positive_int(warmup_steps, "warmup_steps", minimum=0, allow_none=True)
    checkpoint_steps = check_positive_int(checkpoint_steps, "checkpoint_steps", allow_none=True)
    threads = check_positive_int(threads, "threads", allow_none=True)
    if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)):
        raise TypeError(f"random_state must be an int, got {random_state!r}")
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or not learning_rate > 0:
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}")

    tasks = as_tasks(train)
    for t in tasks:
        if loss == "cosine" and t.kind != "scored":
            raise ValueError(
                f"loss='cosine' needs scored pairs (sentence1, sentence2, score), got {t.kind} in {t.name!r}"
            )
        if loss == "mnrl" and t.kind == "scored":
            raise ValueError(
                f"loss='mnrl' needs (anchor, positive[, negative]) texts, got scored pairs in {t.name!r}; "
                "use loss='cosine' or drop the score column"
            )
    data_hash = tasks_hash(tasks)

    # evaluation pairs: given, or 10% (at least MIN_EVAL_PAIRS) of the scored training pairs held out
    eval_task, eval_source = None, "none"
    if eval is not None and eval is not False:
        eval_task, eval_source = check_eval(eval), "eval"
    elif eval is None:
        eval_task, eval_source = hold_out(tasks, random_state)
    if eval_task is not None and np.ptp(eval_task.columns["score"]) == 0:
        if eval_source == "eval":
            raise ValueError(
                "all eval scores are equal: correlations are undefined; give eval pairs with varied scores"
            )
        log.warning(
            "kosbert_viz: the held-out scored pairs all have the same score; no before/after evaluation "
            "(pass eval= pairs with varied scores)"
        )
        eval_task, eval_source = None, "none (held-out scores all equal)"

    sizes = {t.name: len(t) for t in tasks}
    kinds = {t.name: t.kind for t in tasks}
    plan = default_recipe(sizes, kinds, batch_size=batch_size, epochs=epochs, warmup_steps=warmup_steps)
    prec = resolve_precision(precision)
    if checkpoint_steps is None:
        checkpoint_steps = max(1, min(500, plan["total_steps"] // 10))
    show = show_progress_bar if show_progress_bar is not None else plan["total_steps"] >= 100

    _require_training()
    trained, base_name, before_model = _load_base(model)
    before = _sts(eval_task, before_model, cache) if eval_task is not None else None

    import datasets
    import sentence_transformers
    import torch
    import transformers
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )

    try:
        from sentence_transformers.sentence_transformer import losses
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers import losses
    from sentence_transformers.base.sampler import MultiDatasetBatchSamplers
    from sentence_transformers.util import cos_sim

    loss_fns, sets = {}, {}
    for t in tasks:
        sets[t.name] = datasets.Dataset.from_dict(t.columns)
        if t.kind == "scored":
            loss_fns[t.name] = losses.CosineSimilarityLoss(trained)
        else:
            loss_fns[t.name] = losses.MultipleNegativesRankingLoss(
                trained, scale=CARD_RECIPE["mnrl_scale"], similarity_fct=cos_sim
            )
    single = len(tasks) == 1
    kind_batches = {}
    for t in tasks:
        b = plan["batch_sizes"][t.name]
        if kind_batches.setdefault(t.kind, b) != b:  # two tasks of one kind, different sizes: use the smaller
            kind_batches[t.kind] = min(kind_batches[t.kind], b)

    ckpt_dir = out / CHECKPOINT_DIR
    if Path(base_name).expanduser().is_dir() and Path(base_name).expanduser().resolve() == out.resolve():
        raise ValueError(f"output_dir {str(out)!r} is the base model's own folder; write the new model elsewhere")
    run_key = {
        "data_hash": data_hash,
        "base_model": base_name,
        "plan": plan,
        "learning_rate": float(learning_rate),
        "random_state": int(random_state),
        "precision": prec,
    }
    resume_from = resume_point(ckpt_dir, resume, run_key)

    cuda = torch.cuda.is_available()
    args = SentenceTransformerTrainingArguments(
        output_dir=str(ckpt_dir),
        num_train_epochs=plan["epochs"],
        per_device_train_batch_size=max(plan["batch_sizes"].values()),
        learning_rate=float(learning_rate),
        weight_decay=CARD_RECIPE["weight_decay"],
        adam_epsilon=CARD_RECIPE["adam_epsilon"],
        max_grad_norm=CARD_RECIPE["max_grad_norm"],
        lr_scheduler_type="linear",
        warmup_steps=plan["warmup_steps"],
        batch_sampler=TaskBatchSampler(kind_batches),
        multi_dataset_batch_sampler=MultiDatasetBatchSamplers.ROUND_ROBIN,
        seed=int(random_state),
        fp16=prec == "fp16",
        bf16=prec == "bf16",
        save_strategy="steps",
        save_steps=checkpoint_steps,
        save_total_limit=2,
        eval_strategy="no",
        logging_steps=max(1, min(50, plan["total_steps"] // 20)),
        report_to="none",
        disable_tqdm=not show,
        dataloader_pin_memory=cuda,
        use_cpu=not cuda,
    )
    trainer = SentenceTransformerTrainer(
        model=trained,
        args=args,
        train_dataset=sets[tasks[0].name] if single else datasets.DatasetDict(sets),
        loss=loss_fns[tasks[0].name] if single else loss_fns,
        callbacks=[thread_trial_callback(threads)],
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # no loss dicts printed to stdout; the bar shows progress
    start_step = 0
    if resume_from:
        state = json.loads((Path(resume_from) / "trainer_state.json").read_text())
        start_step = int(state.get("global_step", 0))
    t0 = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=resume_from)
    train_seconds = time.perf_counter() - t0
    steps_done = max(0, int(trainer.state.global_step) - start_step)
    pairs_done = plan["pairs_per_epoch"] * plan["epochs"] * steps_done / max(plan["total_steps"], 1)

    trained.save(str(out), create_model_card=False)
    forget_loaded(out)
    if not keep_checkpoints and our_checkpoints(ckpt_dir):
        shutil.rmtree(ckpt_dir)

    recipe = {
        "base_model": base_name,
        "losses": {
            t.name: (
                t.loss_name
                if t.kind == "scored"
                else f"MultipleNegativesRankingLoss(scale={CARD_RECIPE['mnrl_scale']:g}, cos_sim)"
            )
            for t in tasks
        },
        "kinds": kinds,
        "batch_sizes": plan["batch_sizes"],
        "batch_samplers": {t.name: ("shuffled" if t.kind == "scored" else "no_duplicates") for t in tasks},
        "multi_dataset_batch_sampler": None if single else "round_robin",
        "score_scale": {t.name: t.score_scale for t in tasks if t.kind == "scored"},
        "epochs": plan["epochs"],
        "steps_per_epoch": plan["steps_per_epoch"],
        "total_steps": plan["total_steps"],
        "warmup_steps": plan["warmup_steps"],
        "learning_rate": float(learning_rate),
        "weight_decay": CARD_RECIPE["weight_decay"],
        "adam_epsilon": CARD_RECIPE["adam_epsilon"],
        "max_grad_norm": CARD_RECIPE["max_grad_norm"],
        "optimizer": "AdamW",
        "scheduler": "linear warm-up, then linear decay to 0 (WarmupLinear)",
        "precision": prec,
        "random_state": int(random_state),
        "n_train": sizes,
        "n_eval": len(eval_task) if eval_task is not None else 0,
        "eval_source": eval_source,
        "versions": {
            "sentence_transformers": sentence_transformers.__version__,
            "transformers": transformers.__version__,
            "torch": torch.__version__.split("+")[0],
        },
    }
    after = _sts(eval_task, str(out), None) if eval_task is not None else None
    result = FinetuneResult(
        output_dir=str(out),
        base_model=base_name,
        before=before,
        after=after,
        recipe=recipe,
        data_hash=data_hash,
        n_train=sizes,
        n_eval=recipe["n_eval"],
        eval_source=eval_source,
        seconds=time.perf_counter() - t_start,
        train_seconds=train_seconds,
        pairs_per_second=pairs_done / train_seconds if train_seconds > 0 else float("nan"),
        training_loss=float(output.training_loss) if output is not None else None,
        resumed_from=resume_from,
    )
    write_record(out, result)
    return result
