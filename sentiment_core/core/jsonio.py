"""JSON as this project writes it everywhere (files, the command line, the API): strict and UTF-8.

NaN and infinities become null (strict parsers reject `NaN`), numpy scalars plain numbers, paths
strings; non-ASCII text is written as itself, not as `\\u` escapes.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any


def json_safe(value: Any) -> Any:
    """`value` with NaN/inf -> None, numpy scalars -> Python numbers, tuples -> lists, paths -> str."""
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, (str, int, float, bool)) and k is not None else k: json_safe(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:  # numpy/torch scalar
        return json_safe(value.item())
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy arrays
        return json_safe(value.tolist())
    return value


def dumps(value: Any, indent: int | None = None) -> str:
    """Strict JSON text (no NaN), UTF-8 characters kept."""
    return json.dumps(json_safe(value), indent=indent, ensure_ascii=False, allow_nan=False)


def write_json(path: Path, payload: Any) -> None:
    """Write JSON atomically (temp file + rename): readers never see half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(dumps(payload, indent=2), encoding="utf-8")
    os.replace(tmp, path)
