"""POST /predict: label and P(positive) for each text, micro-batched for the served model."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends

from sentiment_core.core.errors import InputError
from sentiment_core.core.settings import Settings
from sentiment_core.serving.api.errors import ApiError, unreadable
from sentiment_core.serving.api.schemas import (
    ERRORS,
    RUN_ERRORS,
    PredictionOut,
    PredictRequest,
    PredictResponse,
    finite,
)
from sentiment_core.serving.api.service import Service, get_app_settings, get_service

router = APIRouter()


@router.post("/predict", response_model=PredictResponse, responses={**ERRORS, **RUN_ERRORS},
             summary="Label and P(positive) for each text")
async def predict(request: PredictRequest, service: Annotated[Service, Depends(get_service)],
                  settings: Annotated[Settings, Depends(get_app_settings)]) -> PredictResponse:
    if not request.texts:
        raise ApiError(422, "texts is empty: send at least one review.", ["body", "texts"])
    if len(request.texts) > settings.max_texts:
        raise ApiError(413, f"{len(request.texts)} texts in one request; the limit is {settings.max_texts} "
                            "(SENTIMENT_MAX_TEXTS): split them over several requests.")
    for index, text in enumerate(request.texts):
        service.check_text(text, ["body", "texts", index])
    chosen = await service.predictor_for(request.chosen_source())
    try:
        if chosen is service.predictor:
            predictions = await service.batcher.predict(request.texts)
        else:
            predictions = await asyncio.to_thread(service.run_model, chosen, "predict", request.texts)
    except InputError as error:
        raise unreadable(chosen, request.texts, error) from None
    return PredictResponse(model=chosen.name, run=chosen.run_id, predictions=[
        PredictionOut(**{**p.to_dict(), "probability": finite(p.probability) or 0.0}) for p in predictions])
