"""POST /counterfactual: the smallest edits that flip a prediction, searched in an explanation process."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from sentiment_core.core.errors import InputError
from sentiment_core.serving.api.errors import ApiError
from sentiment_core.serving.api.schemas import (
    ERRORS,
    EXPLAIN_ERRORS,
    RUN_ERRORS,
    CounterfactualRequest,
    CounterfactualResponse,
)
from sentiment_core.serving.api.service import Service, get_service

router = APIRouter()


@router.post("/counterfactual", response_model=CounterfactualResponse,
             responses={**ERRORS, **RUN_ERRORS, **EXPLAIN_ERRORS},
             summary="The smallest edits of one text that make the model predict the target class")
async def counterfactual(request: CounterfactualRequest,
                         service: Annotated[Service, Depends(get_service)]) -> CounterfactualResponse:
    service.check_text(request.text, ["body", "text"])
    chosen = await service.predictor_for(request.chosen_source())
    try:
        found = await service.explainers.counterfactuals(
            None if chosen is service.predictor else chosen.name, request.text, request.target, request.n)
    except InputError as error:
        raise ApiError.from_error(error, ["body", "text"], prefix="text: ") from None
    first = found[0]
    return CounterfactualResponse(model=chosen.name, run=chosen.run_id, text=request.text, target=first["target"],
                                  label_before=first["label_before"], counterfactuals=found)
