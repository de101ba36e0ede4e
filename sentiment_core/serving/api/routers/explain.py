"""POST /explain: word attributions (Captum) for one text, computed in an explanation process."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from sentiment_core.core.errors import InputError
from sentiment_core.explain.methods import check_steps, default_method
from sentiment_core.serving.api.errors import ApiError
from sentiment_core.serving.api.schemas import (
    ERRORS,
    EXPLAIN_ERRORS,
    RUN_ERRORS,
    ExplainRequest,
    ExplainResponse,
    finite,
)
from sentiment_core.serving.api.service import Service, get_service

router = APIRouter()


@router.post("/explain", response_model=ExplainResponse, responses={**ERRORS, **RUN_ERRORS, **EXPLAIN_ERRORS},
             summary="Word attributions (Captum) for one text")
async def explain(request: ExplainRequest, service: Annotated[Service, Depends(get_service)]) -> ExplainResponse:
    service.check_text(request.text, ["body", "text"])
    chosen = await service.predictor_for(request.chosen_source())
    method = request.method or default_method(chosen.family)
    try:
        check_steps(request.steps, method)
    except InputError as error:
        raise ApiError.from_error(error, ["body", "steps"], prefix="steps: ") from None
    options = {"steps": request.steps, "baseline": request.baseline}
    try:
        result = await service.explainers.explain(
            None if chosen is service.predictor else chosen.name, request.text, method, request.target, options)
    except InputError as error:
        raise ApiError.from_error(error, ["body", "text"], prefix="text: ") from None
    for key in ("probability", "delta", "output", "baseline_output"):
        result[key] = finite(result[key])
    result["probability"] = result["probability"] or 0.0
    result["words"] = [{**w, "score": finite(w["score"]) or 0.0} for w in result["words"]]
    return ExplainResponse(model=chosen.name, run=chosen.run_id, **result)
