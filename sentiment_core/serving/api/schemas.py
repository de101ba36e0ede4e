"""The API's request and response models, and the error tables its routes declare in OpenAPI."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sentiment_core.core import runs
from sentiment_core.data.edits import EDIT_KINDS
from sentiment_core.explain.counterfactual import MAX_COUNTERFACTUALS
from sentiment_core.explain.methods import BASELINES, MAX_STEPS, METHODS
from sentiment_core.serving.api.errors import ApiError

LABEL = Literal["negative", "positive"]


def finite(value: float | None) -> float | None:
    """`value` as a JSON number, or None where JSON has none (NaN, infinity)."""
    return None if value is None or not math.isfinite(value) else float(value)


def _check_run_id(value: str | None) -> str | None:
    return None if value is None else runs.validate_run_id(value)


class RunChoice(BaseModel):
    """Which model answers: `model` (a finished run's id, or the model this server serves, as GET /models
    lists them) or `run` (a run id); default: the served model."""

    run: str | None = Field(default=None, description="run id (default: the model this server serves)",
                            json_schema_extra={"pattern": runs.RUN_ID_PATTERN.pattern})
    model: str | None = Field(default=None, max_length=500, description="a model GET /models lists: a finished "
                              "run's id or the served model's source (default: the served model)")

    @field_validator("run")
    @classmethod
    def _valid_run(cls, value: str | None) -> str | None:
        return _check_run_id(value)

    def chosen_source(self) -> str | None:
        if self.run is not None and self.model is not None and self.run != self.model:
            raise ApiError(422, f"Give `model` or `run`, not both (got model {self.model!r} and run {self.run!r}).",
                           ["body", "model"])
        return self.model if self.model is not None else self.run


class PredictRequest(RunChoice):
    """Reviews to classify, in one request (at most SENTIMENT_MAX_TEXTS texts)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"texts": ["A moving, beautifully acted film.", "Two hours I will never get back."]}]})

    texts: list[str] = Field(description="review texts, each at most SENTIMENT_MAX_CHARS characters")


class ExplainRequest(RunChoice):
    """One review to explain word by word."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"text": "A moving, beautifully acted film.", "method": "integrated_gradients"}]})

    text: str = Field(description="the review, at most SENTIMENT_MAX_CHARS characters")
    method: Literal[tuple(METHODS)] | None = Field(  # type: ignore[valid-type]
        default=None,
        description="attribution method (default: the model family's, gradient_x_input for bow, integrated_gradients "
        "otherwise): " + "; ".join(f"{name}: {method.title}" for name, method in METHODS.items()))
    target: LABEL | None = Field(default=None, description="class to explain (default: the predicted one)")
    baseline: Literal[tuple(BASELINES)] = Field(  # type: ignore[valid-type]
        default="empty", description="what a removed word becomes: empty (the empty review) or undecided (the point "
        "between the empty review and this one where the model's log-odds are 0)")
    steps: int | None = Field(
        default=None, ge=1, le=MAX_STEPS,
        description="; ".join(f"{name}: {method.option} (default {method.default})"
                              for name, method in METHODS.items() if method.option))


class PredictionOut(BaseModel):
    label: LABEL
    probability: float = Field(description="P(positive)")
    truncated: bool = Field(description="the review was longer than the model reads; it read the start")
    tokens_read: int
    total_tokens: int
    read_until: int = Field(description="the model read characters [0, read_until) of the text")
    notes: list[str]
    class_probabilities: dict[str, float] = Field(
        default_factory=dict,
        description="each of the model's classes (a neutral or star-rated model has more than two)")


class PredictResponse(BaseModel):
    model: str = Field(description="the model that answered (its source: run id, folder or hub id)")
    run: str | None
    predictions: list[PredictionOut]


class CounterfactualRequest(RunChoice):
    """One review and the class its edits should reach."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"text": "The plot was good and the acting was great.", "n": 2}]})

    text: str = Field(description="the review, at most SENTIMENT_MAX_CHARS characters")
    target: LABEL | None = Field(default=None, description="the class the edited review should get (default: the "
                                 "one the model does not predict)")
    n: int = Field(default=1, ge=1, le=MAX_COUNTERFACTUALS,
                   description="how many diverse edited reviews (no word edited in two of them)")


class EditOut(BaseModel):
    start: int = Field(description="text[start:end] is `old`, in the text as sent")
    end: int
    old: str
    new: str
    kind: Literal[tuple(EDIT_KINDS)]  # type: ignore[valid-type]


class CounterfactualOut(BaseModel):
    edited: str = Field(description="the review with the edits applied")
    edits: list[EditOut]
    label_after: LABEL = Field(description="the class the model gives the edited review")
    probability_before: float = Field(description="P(target) of the review as sent")
    probability_after: float = Field(description="P(target) of the edited review")
    flipped: bool = Field(description="the edited review gets the target class")
    deletions: bool = Field(description="the flip needed a deletion (no meaning-changing edit did it)")
    share_changed: float = Field(description="words changed, as a share of the review's words")
    seconds: float = Field(description="time taken since the search started")
    message: str
    notes: list[str]


class CounterfactualResponse(BaseModel):
    model: str = Field(description="the model that answered (its source: run id, folder or hub id)")
    run: str | None
    text: str
    target: LABEL
    label_before: LABEL = Field(description="the class the model gives the review as sent")
    counterfactuals: list[CounterfactualOut]


class WordOut(BaseModel):
    word: str
    start: int
    end: int
    score: float = Field(description="log-odds toward the target class")


class ExplainResponse(BaseModel):
    model: str = Field(description="the model that answered (its source: run id, folder or hub id)")
    run: str | None
    text: str
    method: str
    label: LABEL = Field(description="the predicted class")
    probability: float = Field(description="P(positive)")
    target: LABEL = Field(description="the class the scores push toward")
    delta: float | None = Field(description="completeness gap (Captum): sum(scores) - delta = output - baseline_output")
    delta_is_large: bool
    output: float | None
    baseline_output: float | None
    truncated: bool
    read_until: int
    notes: list[str]
    words: list[WordOut]
    class_probabilities: dict[str, float] = Field(default_factory=dict, description="each of the model's classes")


class QueuesOut(BaseModel):
    predictions_waiting: int = Field(description="/predict requests waiting for the micro-batcher")
    predictions_running: int = Field(description="/predict requests in the batch the model is running")
    explanations_running: int = Field(description="/explain requests holding an explanation process")
    explanations_waiting: int = Field(description="/explain requests waiting for a free process")
    explainers_ready: int = Field(description="explanation processes started, their model loaded")


class LimitsOut(BaseModel):
    serve_batch_size: int = Field(description="most texts per model call (SENTIMENT_SERVE_BATCH_SIZE)")
    explain_concurrency: int = Field(description="explanations at once (SENTIMENT_EXPLAIN_CONCURRENCY)")
    explain_queue: int = Field(description="explanation requests that may wait (SENTIMENT_EXPLAIN_QUEUE)")
    explain_timeout_s: float = Field(description="time limit of one explanation (SENTIMENT_EXPLAIN_TIMEOUT_S)")
    explain_threads: int = Field(description="torch threads of each explanation process (SENTIMENT_EXPLAIN_THREADS)")


class HealthResponse(BaseModel):
    status: Literal["ok"]
    model_loaded: bool
    model: str = Field(description="the served model's source: run id, folder or hub id")
    run: str | None
    family: str
    device: str
    max_length: int
    long_text: str = Field(description="how a review longer than max_length is read: truncate, head_tail or windows")
    runtime: Literal["torch", "onnxruntime"] = Field(
        description="what runs /predict for the served model (SENTIMENT_SERVE_RUNTIME); explanations run torch")
    runtime_note: str | None = Field(description="why this runtime: the ONNX check's timing, or why not onnxruntime")
    queues: QueuesOut = Field(description="this worker's queues (with --workers N, the worker that answered)")
    limits: LimitsOut


class ModelOut(BaseModel):
    model: str = Field(description="what to send as `model`: a run id, or the served model's source")
    run: str | None
    kind: Literal["trained", "evaluation", "served"] = Field(
        description="a training run, an evaluation run of an outside model, or the served model (not a run)")
    family: str | None
    loss: str | None
    serving: bool
    created: str | None
    test: dict[str, float | None] = Field(description="test accuracy, f1, roc_auc, bce and ece (calibration)")


class ModelsResponse(BaseModel):
    models: list[ModelOut]


class ErrorOut(BaseModel):
    detail: Any


ERRORS = {
    400: {"model": ErrorOut, "description": "the body is not UTF-8, or its Content-Length is not a number"},
    401: {"model": ErrorOut, "description": "missing or wrong API key (when SENTIMENT_API_KEY is set)"},
    413: {"model": ErrorOut, "description": "over a limit (the message names it)"},
}
RUN_ERRORS = {
    404: {"model": ErrorOut, "description": "no such run"},
    409: {"model": ErrorOut, "description": "the run has no usable model (unfinished or corrupted)"},
}
EXPLAIN_ERRORS = {
    503: {"model": ErrorOut, "description": "every explanation process is busy and the queue is full, or the wait "
                                             "reached the time limit: retry after Retry-After seconds"},
    504: {"model": ErrorOut, "description": "the explanation ran past SENTIMENT_EXPLAIN_TIMEOUT_S and was stopped"},
}
