"""The number format a model predicts in: float32, bfloat16 or dynamic int8 (SENTIMENT_BATCH_PRECISION)."""

from __future__ import annotations

import copy

import torch

from sentiment_core.core.settings import cpu_has_native_bf16, get_settings


def batch_precision(word_level: bool, device: str) -> str:
    """SENTIMENT_BATCH_PRECISION for a model: auto is bfloat16 for a transformer checkpoint on a CPU with native
    bfloat16, float32 otherwise (the word-level families, GPUs, CPUs without native bfloat16)."""
    chosen = get_settings().batch_precision
    if chosen == "auto":
        if word_level or device != "cpu":
            return "float32"
        chosen = "bfloat16" if cpu_has_native_bf16() else "float32"
    return chosen


def model_in(precision: str, model: torch.nn.Module) -> torch.nn.Module:
    """A copy of `model` for inference in `precision`: bfloat16 weights, or its Linear layers quantized to int8
    (dynamic quantization: activations quantized on the fly); the model itself for float32."""
    if precision == "float32":
        return model
    import warnings

    if precision == "bfloat16":
        return copy.deepcopy(model).to(torch.bfloat16)
    with warnings.catch_warnings():  # torch.ao's deprecation notice, not the user's concern
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8)
