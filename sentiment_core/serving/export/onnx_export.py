"""A model as ONNX: exported with torch's dynamo exporter (batch and length dynamic), checked against
PyTorch within ONNX_TOLERANCE on several shapes, and timed against PyTorch with onnxruntime; the same
check gives a server its onnxruntime model (`serving_model`)."""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import tempfile
import time
import types
import warnings
from pathlib import Path

import numpy as np
import torch

ONNX_DIR = "onnx"


ONNX_FILE = "model.onnx"


ONNX_TOLERANCE = 1e-4


SERVING_TIMING_BUDGET_S = 3.0  # how long a server's startup times PyTorch against onnxruntime (serving_model)


ONNX_REQUIREMENTS = ("onnx", "onnxruntime")


CHECK_TEXTS = (
    "What a wonderful film! The acting is superb and the story is moving. I loved every minute of it.",
    "Two hours I will never get back. The plot makes no sense and the dialogue is awful.",
    "The cinematography is beautiful, but the ending is a lazy mess. Not terrible, not good either.",
    "Great.",
    "A <br /><br />long review that keeps going: " + " ".join(["the acting was fine and the plot was dull"] * 120),
)


class _LogitsOnly(torch.nn.Module):
    """(input_ids, attention_mask) -> logits: the graph ONNX exports."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def export_onnx(predictor, path: Path, repeats: int = 20) -> dict:
    """Export the predictor's model to ONNX, check it against PyTorch and time it with onnxruntime.

    Returns {"exported": bool, "path", "max_abs_logit_diff", "shapes_checked", timings...} or, when the
    family does not export or the check fails, {"exported": False, "reason": ...} (no file is kept).
    """
    info, _ = _export_and_check(predictor, Path(path), repeats)
    if info["exported"]:
        info = {**info, "path": f"{ONNX_DIR}/{ONNX_FILE}"}
    return info


class OnnxModel:
    """An onnxruntime session called like the model it was exported from: model(input_ids=, attention_mask=).logits
    (torch tensors in and out, on the CPU). Predictor.view_log_odds runs it in place of PyTorch
    (see `serving_model`)."""

    runtime = "onnxruntime"

    def __init__(self, session):
        self.session = session

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids=None):
        feeds = {"input_ids": input_ids.cpu().numpy(), "attention_mask": attention_mask.cpu().numpy()}
        logits = self.session.run(["logits"], feeds)[0]  # (batch, num_labels)
        return types.SimpleNamespace(logits=torch.from_numpy(logits))


def serving_model(predictor, threads: int, repeats: int = 20) -> tuple[OnnxModel | None, dict]:
    """The predictor's model exported to ONNX and loaded in onnxruntime on `threads` threads, for predictions
    (the file lives in a temporary folder only while it loads). -> (the model, or None when it does not export
    or fails the 1e-4 check, and the export's report: its reason, or its timing against PyTorch on `threads`
    for what a server mostly runs, one review, here a long one read to max_length)."""
    with tempfile.TemporaryDirectory(prefix="sentiment-onnx-") as folder:
        report, model = _export_and_check(predictor, Path(folder) / ONNX_FILE, repeats, threads, CHECK_TEXTS[-1:],
                                          SERVING_TIMING_BUDGET_S)
    return model, report


def _export_and_check(predictor, path: Path, repeats: int, threads: int | None = None,
                      timed_texts: tuple[str, ...] = CHECK_TEXTS * 4,
                      budget_s: float | None = None) -> tuple[dict, OnnxModel | None]:
    """Export, check within ONNX_TOLERANCE on several shapes, time on `timed_texts` (20 texts, one of them long)
    against PyTorch (on `threads` threads, else each library's default; see `_time_both`).
    -> (report, the loaded model or None); a failed export's folder is removed."""
    try:
        import onnxruntime
    except ImportError:
        return {"exported": False, "family": predictor.family,
                "reason": "onnxruntime is not installed: pip install onnx onnxruntime onnxscript"}, None
    model = _LogitsOnly(predictor.model.to("cpu").eval())
    texts = list(CHECK_TEXTS)
    example = [predictor.encode(text) for text in texts[:3]]
    input_ids, attention_mask = (t.cpu() for t in predictor.batch_tensors(example))
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        _torch_onnx_export(model, (input_ids, attention_mask), path)
    except Exception as error:  # noqa: BLE001 - an exporter failure is reported, not raised
        shutil.rmtree(path.parent, ignore_errors=True)
        return {"exported": False, "family": predictor.family,
                "reason": f"torch.onnx.export failed: {type(error).__name__}: {_first_line(error)}"}, None
    export_seconds = time.perf_counter() - started
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    if threads is not None:
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # idle threads leave the cores
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        worst, shapes = 0.0, []
        for batch in (texts, texts[:1], texts[3:4], texts * 4):  # padded batch, one text, one word, 20 texts
            ids, mask = (t.cpu() for t in predictor.batch_tensors([predictor.encode(text) for text in batch]))
            with torch.no_grad():
                expected = model(ids, mask).float().numpy()
            got = session.run(["logits"], {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
            worst = max(worst, float(np.abs(got - expected).max()))
            shapes.append(list(ids.shape))
    except Exception as error:  # noqa: BLE001 - e.g. a shape the exporter fixed at export time
        shutil.rmtree(path.parent, ignore_errors=True)
        return {"exported": False, "family": predictor.family,
                "reason": f"onnxruntime could not run the export on other shapes: {type(error).__name__}: "
                          f"{_first_line(error)}"}, None
    if not worst <= ONNX_TOLERANCE:
        shutil.rmtree(path.parent, ignore_errors=True)
        return {"exported": False, "family": predictor.family, "max_abs_logit_diff": worst,
                "reason": f"onnxruntime's logits differ from PyTorch's by {worst:.2e} (> {ONNX_TOLERANCE:g})"}, None
    timing = _time_both(model, session, predictor, list(timed_texts), repeats, threads, budget_s)
    warning = None
    if timing["speedup"] is not None and timing["speedup"] < 1:
        warning = (f"onnxruntime is {timing['onnxruntime_ms_per_batch'] / timing['torch_ms_per_batch']:.1f}x slower "
                   "than PyTorch for this model on the exporting "
                   f"machine ({timing['onnxruntime_ms_per_batch']} ms against {timing['torch_ms_per_batch']} ms for a "
                   f"batch of {timing['timed_batch'][0]}): serve model.safetensors with PyTorch for speed; "
                   "the ONNX file is for runtimes without Python or PyTorch")
    return {"exported": True, "family": predictor.family,
            "max_abs_logit_diff": worst, "tolerance": ONNX_TOLERANCE, "shapes_checked": shapes,
            "export_seconds": round(export_seconds, 2), "onnxruntime": onnxruntime.__version__, **timing,
            "warning": warning}, OnnxModel(session)


def _torch_onnx_export(model, example, path: Path) -> None:
    """torch.onnx.export with the dynamo exporter (the default in torch 2.9+), batch and length dynamic."""
    batch, length = torch.export.Dim("batch", min=1, max=4096), torch.export.Dim("length", min=1, max=100_000)
    quiet = io.StringIO()
    onnx_logger = logging.getLogger("torch.onnx")
    level = onnx_logger.level
    onnx_logger.setLevel(logging.ERROR)  # e.g. "torchvision is not installed. Skipping torchvision::nms"
    try:
        with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model, example, str(path), input_names=["input_ids", "attention_mask"], output_names=["logits"],
                dynamo=True, external_data=False,
                dynamic_shapes={"input_ids": {0: batch, 1: length}, "attention_mask": {0: batch, 1: length}},
            )
    finally:
        onnx_logger.setLevel(level)


def _time_both(model, session, predictor, texts, repeats: int, threads: int | None = None,
               budget_s: float | None = None) -> dict:
    """Median ms of PyTorch and onnxruntime on one batch of `texts`, on `threads` threads (else each library's
    default), taken in turns so that a change in the machine's speed hits both; `repeats` turns, or fewer
    (at least 3) once `budget_s` seconds have passed."""
    ids, mask = (t.cpu() for t in predictor.batch_tensors([predictor.encode(text) for text in texts]))
    feeds = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}

    def seconds(function) -> float:
        started = time.perf_counter()
        function()
        return time.perf_counter() - started

    default_threads = torch.get_num_threads()
    torch_times, onnx_times = [], []
    started = time.perf_counter()
    try:
        for repeat in range(repeats + 1):  # the first of each is a warm-up
            if budget_s is not None and repeat > 3 and time.perf_counter() - started > budget_s:
                break
            torch.set_num_threads(threads or default_threads)
            with torch.no_grad():
                torch_time = seconds(lambda: model(ids, mask))
            torch.set_num_threads(default_threads)
            onnx_time = seconds(lambda: session.run(["logits"], feeds))
            if repeat:
                torch_times.append(torch_time)
                onnx_times.append(onnx_time)
    finally:
        torch.set_num_threads(default_threads)
    torch_ms, onnx_ms = (round(float(np.median(times)) * 1000, 3) for times in (torch_times, onnx_times))
    return {"timed_batch": list(ids.shape), "torch_ms_per_batch": torch_ms, "onnxruntime_ms_per_batch": onnx_ms,
            "speedup": round(torch_ms / onnx_ms, 2) if onnx_ms else None}


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else repr(error))[:300]
