"""One training run from start to finish: `train(config) -> run directory`.

Builds the tokenizer and the model, trains with `SentimentTrainer` (resuming from the last checkpoint when asked),
keeps the best checkpoint on validation (never on test), then evaluates the test split once into eval.json and
predictions.csv. Runs under `torchrun --nproc_per_node N -m sentiment_core train ...` too (DDP)."""

from __future__ import annotations

import dataclasses
import errno
import math
import os
import platform
import time
import traceback
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    EarlyStoppingCallback,
    Trainer,
    TrainingArguments,
)

from sentiment_core.core import runs
from sentiment_core.core.errors import InputError, ModelSourceError
from sentiment_core.core.metrics import full_report
from sentiment_core.core.settings import cpu_has_native_bf16, resolve_device
from sentiment_core.data import opposites
from sentiment_core.data.imdb import column, load_imdb, seeded_subset, source_record
from sentiment_core.data.text import TokenizerConfig, build_word_tokenizer, vocabulary_ids
from sentiment_core.modeling.heads import positive_log_odds
from sentiment_core.training import jobs
from sentiment_core.training.callbacks import RunDirectoryCallback, StopCallback
from sentiment_core.training.encoding import PadCollator, encode_split, in_split_order, sorted_by_length
from sentiment_core.training.losses import num_labels_for
from sentiment_core.training.options import TrainConfig
from sentiment_core.training.trainer import SentimentTrainer, validation_metrics

# The families whose models turn the words in a negation's scope, and where a scope ends. bow, which reads no order
# beyond bigrams, ends it at a comma too ("It's not a masterpiece, and the acting is wonderful."); the transformer
# does not, and reaches a negation a clause away ("I don't think that, for a western, ..."): measured both ways in
# docs/results.md.
NEGATION_SCOPE_ENDS = {"bow": opposites.NEGATION_SCOPE_ENDS + (",",), "transformer": opposites.NEGATION_SCOPE_ENDS}
# Options added after runs were made: the value that reproduces how such a run was trained, for its resume.
LEGACY_VALUES = {"long_text": "truncate", "pooling": "cls", "precision": "float32", "best_metric": "accuracy"}


def load_backbone_tokenizer(backbone: str):
    """The backbone's own tokenizer; a ModelSourceError naming the backbone when it cannot be loaded
    (at once when it is a hub id and the hub is unreachable, instead of minutes of retries)."""
    from sentiment_core.data.imdb import hub_reachable
    from sentiment_core.modeling.pretrained import offline_hint

    where = f"Cannot load the tokenizer of backbone {backbone!r}"
    path = Path(backbone).expanduser()
    if not path.exists():
        if path.is_absolute() or backbone.startswith((".", "~")) or backbone.count("/") > 1:
            raise ModelSourceError(f"{where}: there is no such folder. {offline_hint()}")
        if not hub_reachable():
            raise ModelSourceError(f"{where}: it is not a local folder and the Hugging Face hub is unreachable from "
                                   f"this machine (no network). {offline_hint()}")
    try:
        return AutoTokenizer.from_pretrained(backbone)
    except Exception as error:
        raise ModelSourceError(f"{where} ({type(error).__name__}: {error}). {offline_hint()}") from None


def _build_tokenizer(config: TrainConfig, run_dir: Path, train_texts: list[str], state):
    """The word tokenizer (trained on train by rank 0, saved in the run) or the backbone's tokenizer."""
    folder = run_dir / "tokenizer"
    with state.main_process_first():
        if folder.exists():
            return AutoTokenizer.from_pretrained(folder)
        if config.model == "pretrained":
            tokenizer = load_backbone_tokenizer(config.backbone)
        else:
            tokenizer = build_word_tokenizer(
                train_texts,
                TokenizerConfig(vocab_size=config.vocab_size, min_frequency=config.min_frequency,
                                model_max_length=config.max_length),
            )
        if state.is_main_process:
            tokenizer.save_pretrained(folder)
        return tokenizer


def _build_model(config: TrainConfig, tokenizer, checkpoint: Path | None = None):
    """The run's model: on resume, a word family's is the one its checkpoint describes (a run made before an
    architecture option existed continues as it was built)."""
    from sentiment_core import modeling
    from sentiment_core.training import augment

    num_labels = num_labels_for(config.loss)
    torch.manual_seed(config.seed)  # same initial weights for the same seed, whatever the loss
    if checkpoint is not None and config.model != "pretrained":
        return AutoModelForSequenceClassification.from_config(AutoConfig.from_pretrained(checkpoint))
    if config.model == "pretrained":
        return modeling.PretrainedEncoderForSequenceClassification.from_backbone(
            config.backbone, num_labels=num_labels, **{"pooling": config.pooling or "cls", **config.model_options}
        )
    options = dict(config.model_options)
    if config.model == "transformer":
        options.setdefault("max_position_embeddings", max(config.max_length, 8))
    if config.augment != "none" and config.model in augment.WORD_DROPOUT_FAMILIES:
        options.setdefault("token_dropout_keep", augment.protected_ids(tokenizer))
    if config.model in NEGATION_SCOPE_ENDS:
        options.setdefault("negation_cue_ids", vocabulary_ids(tokenizer, opposites.NEGATION_CUES))
        options.setdefault("scope_end_ids", vocabulary_ids(tokenizer, NEGATION_SCOPE_ENDS[config.model]))
    return modeling.build_model(
        config.model, vocab_size=len(tokenizer), num_labels=num_labels, pad_token_id=tokenizer.pad_token_id, **options
    )


def _fit_bow_item_weights(model, train_dataset, pad_token_id: int, batch_size: int = 512) -> None:
    """bow's Naive Bayes item weights from the training split (restored from checkpoints on resume)."""
    from torch.nn.utils.rnn import pad_sequence

    by_length = sorted(range(len(train_dataset)), key=lambda row: len(train_dataset["input_ids"][row]))
    ids = [train_dataset["input_ids"][row] for row in by_length]  # batches of similar length pad little
    labels = [train_dataset["labels"][row] for row in by_length]
    starts = range(0, len(ids), batch_size)
    model.fit_item_weights(
        (pad_sequence([torch.tensor(i) for i in ids[s:s + batch_size]], batch_first=True, padding_value=pad_token_id)
         for s in starts),
        (torch.tensor(labels[s:s + batch_size]) for s in starts),
    )


def resolve_precision(config: TrainConfig, device: str) -> str:
    """The number format a run trains in: float32, bfloat16 or float16 (the last two as mixed precision with
    float32 master weights). auto: bfloat16 on a GPU that has it (float16 on one that does not), and for the
    pretrained family on a CPU with native bfloat16 (AVX512-BF16 or AMX), where it is about twice as fast;
    float32 elsewhere (emulated bfloat16 is slower, and the small families gain little)."""
    if config.precision == "float32" or device == "mps":
        return "float32"
    if device == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    if config.precision == "bfloat16":
        return "bfloat16"
    return "bfloat16" if config.model == "pretrained" and cpu_has_native_bf16() else "float32"


def _training_arguments(config: TrainConfig, run_dir: Path, device: str, steps_per_epoch: int) -> TrainingArguments:
    precision = resolve_precision(config, device)
    evaluate_by_steps = config.eval_steps is not None
    logging_steps = config.logging_steps or min(50, max(1, steps_per_epoch // 25))
    return TrainingArguments(
        output_dir=str(run_dir / runs.CHECKPOINTS_DIR),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=(max(config.batch_size, 64) if config.model != "pretrained"
                                    else config.batch_size * 2),
        num_train_epochs=config.epochs,
        learning_rate=config.lr,
        weight_decay=config.weight_decay,
        max_grad_norm=0.0 if config.model == "bow" else 1.0,  # no clipping for bow's sparse gradients
        warmup_steps=int(config.warmup_ratio * steps_per_epoch * config.epochs),
        lr_scheduler_type="linear",
        eval_strategy="steps" if evaluate_by_steps else "epoch",
        eval_steps=config.eval_steps,
        save_strategy="steps" if evaluate_by_steps else "epoch",
        save_steps=config.eval_steps,
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model=config.best_metric,
        greater_is_better=config.best_metric != "bce",
        logging_strategy="steps",
        logging_steps=logging_steps,
        logging_first_step=True,
        report_to=[] if config.report_to == "none" else [config.report_to],
        run_name=run_dir.name,
        seed=config.seed,
        data_seed=config.seed,
        use_cpu=device == "cpu",
        bf16=precision == "bfloat16",
        fp16=precision == "float16",
        train_sampling_strategy="group_by_length",
        length_column_name="lengths",
        remove_unused_columns=True,
        dataloader_num_workers=2 if device == "cuda" else 0,  # the GPU waits for no batch; on a CPU they compete
        dataloader_pin_memory=device == "cuda",
        ddp_find_unused_parameters=False,
        disable_tqdm=False,
    )


def train(config: TrainConfig) -> Path:
    """Train one run end to end and return its directory. Bad input raises before any work."""
    from accelerate import PartialState

    if config.resume:
        if not config.run_id:
            raise InputError("--resume needs the --run-id of the run to continue.")
        run_dir = runs.run_path(config.run_id)
        saved = runs.read_config(run_dir) if run_dir.is_dir() else None
        if saved is None:
            raise runs.RunError(f"Cannot resume {config.run_id!r}: no such run in {runs.models_dir()}.")
        known = {f.name for f in dataclasses.fields(TrainConfig)}
        extended = {"epochs": config.epochs} if config.epochs is not None else {}  # train longer (or shorter)
        legacy = {k: v for k, v in LEGACY_VALUES.items()
                  if k not in saved and (k != "pooling" or saved.get("model") == "pretrained")}
        config = TrainConfig(**legacy | {k: v for k, v in saved.items() if k in known} | extended | {"resume": True})
    config = config.resolved()
    device = resolve_device()
    if device == "cpu":
        torch.set_flush_denormal(True)  # tiny values in saturated gates can slow CPU maths many times
    state = PartialState(cpu=device == "cpu")
    is_main = state.is_main_process

    # Broadcast one run id to every rank (a timestamped default differs per process).
    run_id = config.run_id or runs.new_run_id(config.model, config.loss)
    if state.num_processes > 1:
        from accelerate.utils import broadcast_object_list

        run_id = broadcast_object_list([run_id])[0]
    config = dataclasses.replace(config, run_id=run_id)

    checkpoint = None
    if config.resume:
        run_dir = runs.run_path(run_id)
        checkpoint = runs.last_checkpoint(run_dir)
        if checkpoint is None:
            raise runs.RunError(
                f"Run {run_id!r} has no checkpoint to resume from (it stopped before it saved one): delete it with "
                f"`python -m sentiment_core runs delete {run_id}` and train it again, or start a new run.")
    elif is_main:
        runs.ensure_new_run(run_id)  # before loading data: a taken id is refused before any work

    dataset = load_imdb(config.data)  # a bad source fails here, before anything is written
    if config.model == "pretrained" and not config.resume:
        load_backbone_tokenizer(config.backbone)  # so does a backbone that cannot be loaded
    train_split = seeded_subset(dataset["train"], config.max_train_samples, config.seed)

    run_dir = runs.run_path(run_id)
    if not config.resume and is_main:
        runs.create_run(run_id, {**dataclasses.asdict(config), "data_source": source_record(config.data),
                                 "device": device, "precision_used": resolve_precision(config, device),
                                 "world_size": state.num_processes,
                                 "torch": torch.__version__, "python": platform.python_version()})
    if is_main:
        runs.clear_stop(run_dir)  # a STOP left from before this start (e.g. a stop of a finished run) must not stop it
        if checkpoint is not None:  # rows logged after the checkpoint (a crash) are logged again from it
            runs.drop_metrics_after(run_dir, runs.checkpoint_step(checkpoint))
    state.wait_for_everyone()
    if is_main:
        runs.update_status(run_dir, state="running", pid=os.getpid(),
                           started=runs.read_status(run_dir).get("started") or runs.now_iso(),
                           error=None, ended=None, device=device, world_size=state.num_processes)
    try:
        with jobs.TerminationFlag.installed():
            return _train_in_run(config, run_dir, dataset, train_split, device, state, checkpoint)
    except BaseException as error:
        if is_main:
            stopped = isinstance(error, KeyboardInterrupt)
            runs.update_status(run_dir, state="stopped" if stopped else "failed", ended=runs.now_iso(),
                               error=None if stopped else _failure_message(error, run_dir),
                               traceback=None if stopped else traceback.format_exc(limit=8))
        raise


def _failure_message(error: BaseException, run_dir: Path) -> str:
    """The error as status.json keeps it, with the fix for a full disk (the last complete checkpoint is kept)."""
    message = f"{type(error).__name__}: {error}"
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        kept = runs.last_checkpoint(run_dir)
        message += (f". The disk is full: free some space, then resume the run (train --resume --run-id {run_dir.name})"
                    + (f"; it continues from {kept.name}, the last complete checkpoint." if kept else "."))
    return message


def _augment(config: TrainConfig, run_dir: Path, train_split, validation_split, state):
    """The training (and with --augment-eval the validation) split with its counterfactuals added, recorded in
    run.json; the test split is never augmented. The main process generates what the cache lacks, the others
    then read it."""
    from tqdm.auto import tqdm

    from sentiment_core.training import augment

    is_main = state.is_main_process
    saved = runs.read_config(run_dir)
    source = (saved.get("data_source") or {}).get("source") or str(config.data)
    started = time.monotonic()
    records = {}
    with state.main_process_first():
        for name, split, wanted in (("train", train_split, True), ("validation", validation_split,
                                                                     config.augment_eval)):
            if not wanted:
                continue
            bar = tqdm(total=0, desc=f"counterfactual edits ({name})", unit="review", disable=not is_main)
            last = [0.0]

            def progress(done: int, total: int, bar=bar, last=last) -> None:
                bar.total = total
                bar.update(done - bar.n)
                if is_main and (time.monotonic() - last[0] > 1.0 or done >= total):
                    last[0] = time.monotonic()
                    runs.update_status(run_dir, phase="augmenting", augment_done=done, augment_total=total)

            augmented, records[name] = augment.augment_split(split, config.augment_share, config.seed, source,
                                                             progress)
            bar.close()
            if name == "train":
                train_split = augmented
            else:
                validation_split = augmented
    record = {**augment.describe(config), "seconds": round(time.monotonic() - started, 2), **records}
    if is_main:
        runs.write_json(run_dir / runs.RUN_FILE, {**runs.read_config(run_dir), "augmentation": record})
        runs.update_status(run_dir, phase=None, augment_done=None, augment_total=None)
        print(f"augmentation: {augment.summary(record)}", flush=True)
    return train_split, validation_split, record


def _train_in_run(config, run_dir, dataset, train_split, device, state, checkpoint) -> Path:
    is_main = state.is_main_process
    tokenizer = _build_tokenizer(config, run_dir, column(train_split, "text"), state)  # from the originals only
    test_split = seeded_subset(dataset["test"], config.max_test_samples, config.seed)
    validation_split = seeded_subset(dataset["validation"], config.max_eval_samples, config.seed)
    augmentation = None
    if config.augment != "none":
        train_split, validation_split, augmentation = _augment(config, run_dir, train_split, validation_split, state)
    encoded = {
        "train": encode_split(tokenizer, train_split, config),
        "validation": encode_split(tokenizer, validation_split, config),
        "test": encode_split(tokenizer, test_split, config, reading=config.long_text),
    }
    encoded["validation"], _ = sorted_by_length(encoded["validation"])  # metrics ignore order
    encoded["test"], test_order = sorted_by_length(encoded["test"])  # predictions.csv restores it
    per_step = config.batch_size * state.num_processes
    if len(encoded["train"]) % per_step == 1:  # a last batch of one review breaks BatchNorm in training
        encoded["train"] = encoded["train"].select(range(len(encoded["train"]) - 1))
    steps_per_epoch = max(1, math.ceil(len(encoded["train"]) / per_step))
    args = _training_arguments(config, run_dir, device, steps_per_epoch)
    model = _build_model(config, tokenizer, checkpoint)
    if config.model == "bow" and model.config.nb_weighting and checkpoint is None:
        _fit_bow_item_weights(model, encoded["train"], tokenizer.pad_token_id)
    stop = StopCallback(run_dir)
    callbacks = [RunDirectoryCallback(run_dir, per_step), stop]
    if config.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience))
    trainer = SentimentTrainer(
        model=model,
        args=args,
        loss_name=config.loss,
        train_dataset=encoded["train"],
        eval_dataset=encoded["validation"],
        data_collator=PadCollator(tokenizer.pad_token_id, pad_to_multiple_of=8 if device == "cuda" else None),
        processing_class=tokenizer,
        compute_metrics=validation_metrics,
        callbacks=callbacks,
    )
    started = time.monotonic()
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    train_seconds = time.monotonic() - started

    if stop.stopped:
        if is_main:
            runs.update_status(run_dir, state="stopped", ended=runs.now_iso(), step=trainer.state.global_step,
                               checkpoint=str(runs.last_checkpoint(run_dir)))
            runs.clear_stop(run_dir)  # handled: a resume starts clean
        return run_dir

    if is_main:
        runs.update_status(run_dir, state="running", phase="testing")
        trainer.save_model(str(run_dir / runs.BEST_DIR))  # the best model on validation (loaded at end)
        tokenizer.save_pretrained(run_dir / runs.BEST_DIR)
    test_precision, tester = _test_pass_trainer(config, trainer, device, state)
    output = tester.predict(encoded["test"], metric_key_prefix="test")
    if is_main:
        _write_test_report(config, run_dir, trainer, output, encoded["test"], test_order, test_split, train_seconds,
                           test_precision, augmentation)
        runs.update_status(run_dir, state="finished", phase=None, ended=runs.now_iso(), step=trainer.state.global_step)
    state.wait_for_everyone()
    return run_dir


def _test_pass_trainer(config: TrainConfig, trainer: SentimentTrainer, device: str, state) -> tuple[str, Trainer]:
    """The number format of the test pass and the Trainer that runs it: a pretrained run on one CPU process
    predicts the test split with SENTIMENT_BATCH_PRECISION's model (by default bfloat16 where the CPU has it,
    faster at the same accuracy: docs/results.md); everything else with the model as trained."""
    from sentiment_core.modeling.precision import batch_precision, model_in

    trained = resolve_precision(config, device)
    precision = batch_precision(config.model != "pretrained", device)
    if precision in ("float32", trained) or state.num_processes > 1:
        return trained, trainer
    model = model_in(precision, trainer.model.eval())
    return precision, SentimentTrainer(model=model, args=trainer.args, loss_name=config.loss,
                                       eval_dataset=trainer.eval_dataset, data_collator=trainer.data_collator,
                                       processing_class=trainer.processing_class)


def _write_test_report(config, run_dir, trainer, output, test_views, order, test_split, train_seconds,
                       test_precision: str, augmentation: dict | None = None) -> None:
    """predictions.csv and eval.json; a review read as several windows gets the mean of their log-odds."""
    logits = torch.as_tensor(np.asarray(output.predictions)).float()
    log_odds = in_split_order(positive_log_odds(logits).numpy(), order)  # per view, in view order
    owners = in_split_order(np.asarray(test_views["review"]), order)
    n = test_split.num_rows
    counts = np.bincount(owners, minlength=n)
    probabilities = 1 / (1 + np.exp(-np.bincount(owners, weights=log_odds, minlength=n) / np.maximum(counts, 1)))
    labels = np.asarray(column(test_split, "label"), dtype=int)
    lengths = np.zeros(n, dtype=int)
    lengths[owners] = in_split_order(np.asarray(test_views["lengths"]), order)
    read_all = config.long_text == "windows"
    runs.write_predictions(run_dir, probabilities, labels, lengths, (lengths > config.max_length) & (not read_all))
    history = runs.read_metrics(run_dir)
    validation = history[history["split"] == "validation"]
    chosen = pd.to_numeric(validation[config.best_metric], errors="coerce")
    best = (validation.loc[chosen.idxmax() if config.best_metric != "bce" else chosen.idxmin()]
            if chosen.notna().any() else None)
    report = {
        "run_id": run_dir.name,
        "model": config.model,
        "loss": config.loss,
        "test": full_report(labels, probabilities, lengths),
        "best_validation": None if best is None else {
            "step": int(best["step"]), "epoch": float(best["epoch"]), "accuracy": float(best["accuracy"]),
            "f1": float(best["f1"]), "bce": float(best["bce"]),
        },
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "train_seconds": round(train_seconds, 2),
        "augment_seconds": augmentation["seconds"] if augmentation else None,
        "train_samples_per_second": trainer.state.log_history[-1].get("train_samples_per_second")
        if trainer.state.log_history else None,
        "long_text": config.long_text, "test_precision": test_precision,
        "truncated_fraction": 0.0 if read_all else float((lengths > config.max_length).mean()),
    }
    runs.write_json(run_dir / runs.EVAL_FILE, report)
