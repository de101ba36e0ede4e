"""Trainer callbacks: stop cleanly on a STOP file or SIGTERM, and write the run directory (metrics.csv, status.json)
as training goes."""

from __future__ import annotations

import time
from pathlib import Path

import torch
from transformers import (
    TrainerCallback,
)

from sentiment_core.core import runs
from sentiment_core.training import jobs


class StopCallback(TrainerCallback):
    """Stop cleanly (and save a checkpoint) when STOP appears or SIGTERM arrives; all ranks agree."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.stopped = False

    def on_step_end(self, args, state, control, **kwargs):
        wanted = jobs.TerminationFlag.requested or runs.stop_requested(self.run_dir)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            flag = torch.tensor([1.0 if wanted else 0.0])
            if torch.distributed.get_backend() == "nccl":
                flag = flag.cuda()
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            wanted = bool(flag.item())
        if wanted:
            self.stopped = True
            control.should_training_stop = True
            control.should_save = True
        return control


class RunDirectoryCallback(TrainerCallback):
    """Append train/validation rows to metrics.csv and keep status.json current (rank 0 only)."""

    def __init__(self, run_dir: Path, samples_per_step: int):
        self.run_dir = run_dir
        self.samples_per_step = samples_per_step
        self.started = time.monotonic()
        self.last_time = None
        self.last_step = 0
        self.first_step = 0
        self.throughput = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.monotonic()
        self.last_time, self.last_step = self.started, state.global_step
        self.first_step = state.global_step
        if state.is_world_process_zero:
            runs.update_status(self.run_dir, state="running", step=state.global_step, total_steps=state.max_steps)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        now = time.monotonic()
        if state.global_step > self.last_step:
            self.throughput = (state.global_step - self.last_step) * self.samples_per_step / (now - self.last_time)
            self.last_time, self.last_step = now, state.global_step
        base = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4),
                "wall_seconds": round(now - self.started, 3)}
        rows = []
        if "loss" in logs:
            rows.append({**base, "split": "train", "loss": logs["loss"], "accuracy": logs.get("accuracy"),
                         "lr": logs.get("learning_rate"), "samples_per_second": self.throughput})
        if "eval_loss" in logs:
            rows.append({**base, "split": "validation", "loss": logs["eval_loss"],
                         "accuracy": logs.get("eval_accuracy"), "f1": logs.get("eval_f1"), "bce": logs.get("eval_bce")})
        if rows:
            runs.append_metrics(self.run_dir, rows)
        done = state.global_step - self.first_step
        rate = done / (now - self.started) if done else None
        eta = (state.max_steps - state.global_step) / rate if rate else None
        runs.update_status(
            self.run_dir, state="running", step=state.global_step, total_steps=state.max_steps,
            epoch=round(state.epoch or 0.0, 4), samples_per_second=self.throughput,
            eta_seconds=round(eta, 1) if eta is not None else None,
            best_metric=state.best_metric,
        )
