"""What runs /predict's batches of the served model: torch, or the model exported to onnxruntime.

Chosen once at start-up as SENTIMENT_SERVE_RUNTIME says (see Settings); explanations always run torch.
"""

from __future__ import annotations

from sentiment_core.core.errors import SettingsError

# The families SENTIMENT_SERVE_RUNTIME=auto exports and times at start-up; the others stay on torch and skip the
# export: onnxruntime was slower for bow (its EmbeddingBag) and for MiniLM (`pretrained`) (docs/results.md).
AUTO_ONNX_FAMILIES = ("transformer",)


def choose_runtime(predictor, wanted: str, threads: int) -> tuple[object, str | None]:
    """(the predictor /predict's batches run, why this runtime) for `wanted` (auto, torch or onnxruntime).

    Raises SettingsError where onnxruntime was asked for and cannot serve this model.
    """
    if wanted == "torch":
        return predictor, None
    if str(predictor.device) != "cpu":
        if wanted == "onnxruntime":
            raise SettingsError(f"SENTIMENT_SERVE_RUNTIME=onnxruntime runs on the CPU, but the model is on "
                                f"{predictor.device}: set SENTIMENT_DEVICE=cpu or SENTIMENT_SERVE_RUNTIME=torch.")
        return predictor, f"torch: the model runs on {predictor.device} (onnxruntime serves on the CPU only)"
    if wanted == "auto" and predictor.family not in AUTO_ONNX_FAMILIES:
        return predictor, (f"torch: auto tries onnxruntime for {', '.join(AUTO_ONNX_FAMILIES)} models only; "
                           f"SENTIMENT_SERVE_RUNTIME=onnxruntime tries it for {predictor.family}")
    # onnx and onnxruntime load only where they may serve
    from sentiment_core.serving.export import onnx_export

    model, report = onnx_export.serving_model(predictor, threads)
    if model is None:
        if wanted == "onnxruntime":
            raise SettingsError(f"SENTIMENT_SERVE_RUNTIME=onnxruntime, but {report['reason']}. Set "
                                "SENTIMENT_SERVE_RUNTIME=torch (or auto) to serve with PyTorch.")
        return predictor, f"torch: {report['reason']}"
    figures = (f"{report['onnxruntime_ms_per_batch']} ms against torch's {report['torch_ms_per_batch']} ms for "
               f"a batch of {report['timed_batch'][0]}, logits within {report['max_abs_logit_diff']:.1e}")
    if wanted == "auto" and report["speedup"] < 1:
        return predictor, f"torch: faster than onnxruntime here ({figures})"
    return predictor.with_runtime(model), f"onnxruntime: {figures}"
