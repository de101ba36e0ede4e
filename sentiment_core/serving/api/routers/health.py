"""GET /health: is the model loaded, which one, how busy, with what limits (always open)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from sentiment_core.serving.api.schemas import HealthResponse
from sentiment_core.serving.api.service import Service, get_service

router = APIRouter()


@router.get("/health", response_model=HealthResponse,
            summary="Is the model loaded, which one, how busy and with what limits")
async def health(service: Annotated[Service, Depends(get_service)]) -> HealthResponse:
    return service.health()
