"""GET /models: the served model and every finished run, with their test metrics."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends

from sentiment_core.core import runs
from sentiment_core.inference.default_model import finished_runs
from sentiment_core.serving.api.schemas import ERRORS, ModelOut, ModelsResponse, finite
from sentiment_core.serving.api.service import Service, get_service

router = APIRouter()


@router.get("/models", response_model=ModelsResponse, responses=ERRORS,
            summary="What this server can answer with: the served model and every finished run, with test metrics")
async def models(service: Annotated[Service, Depends(get_service)]) -> ModelsResponse:
    rows = await asyncio.to_thread(model_rows, service.predictor)
    return ModelsResponse(models=rows)


def model_rows(served) -> list[ModelOut]:
    """What this server can answer with: every finished run (trained or evaluation) and the served model."""
    rows = []
    for row in finished_runs():
        try:
            run_dir = runs.run_path(row["run_id"])
            report = runs.read_json(run_dir / runs.EVAL_FILE) or {}
            kind = (runs.read_json(run_dir / runs.RUN_FILE) or {}).get("kind") or "trained"
        except runs.RunError:
            report, kind = {}, "trained"
        test = report.get("test") or {}
        metrics = {key: test.get(key) for key in ("accuracy", "f1", "roc_auc", "bce")}
        metrics["ece"] = (test.get("calibration") or {}).get("ece")
        rows.append(ModelOut(
            model=row["run_id"], run=row["run_id"], kind=kind if kind == "evaluation" else "trained",
            family=_text(row.get("family")), loss=_text(row.get("loss")), serving=row["run_id"] == served.run_id,
            created=_text(row.get("created")),
            test={key: finite(value) if isinstance(value, (int, float)) else None for key, value in metrics.items()},
        ))
    if served.run_id is None:  # a checkpoint folder or hub model, not a run
        rows.insert(0, ModelOut(model=served.name, run=None, kind="served", family=served.family, loss=None,
                                serving=True, created=None, test={}))
    return rows


def _text(value) -> str | None:
    """A runs-table cell as text, or None where the table has none (NaN: e.g. the loss of an evaluation run)."""
    return value if isinstance(value, str) else None
