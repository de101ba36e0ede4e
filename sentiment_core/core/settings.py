"""One Settings object, read from the environment and `.env`. Nothing else reads os.environ."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sentiment_core.core.errors import SettingsError

DEFAULT_DATA_SOURCE = "stanfordnlp/imdb"


class Settings(BaseSettings):
    """Studio settings, each read from its environment variable (`SENTIMENT_<NAME>`, and `IMDB_DATA`) or from
    `.env` in the current directory; docs/settings.md explains each one."""

    model_config = SettingsConfigDict(
        env_prefix="SENTIMENT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    imdb_data: str = Field(
        default=DEFAULT_DATA_SOURCE, validation_alias=AliasChoices("IMDB_DATA", "SENTIMENT_IMDB_DATA"),
        description="where the reviews come from: a hub dataset id, a parquet folder, an aclImdb folder or a CSV")
    models_dir: Path = Field(default=Path("models"), description="one sub-folder per training run")
    cache_dir: Path | None = Field(default=None, description="data derived once and kept between runs (the "
                                   "counterfactual edits of --augment); default: SENTIMENT_MODELS_DIR/.cache")
    device: Literal["auto", "cpu", "cuda", "mps"] = Field(default="auto", description="auto: cuda, then mps, then cpu")
    validation_fraction: float = Field(default=0.1, gt=0.0, lt=1.0, description="share of train held out")
    seed: int = Field(default=42, description="seed of the validation split and default training seed")
    serve_run: str | None = Field(default=None, description="the run the API serves (older name of serve_model)")
    serve_model: str | None = Field(default=None, description="the model source the API serves (default: the "
                                    "best finished run)")
    api_key: SecretStr | None = Field(default=None, description="when set, the API answers 401 without it")
    max_texts: int = Field(default=64, ge=1, description="most texts in one /predict request")
    max_chars: int = Field(default=20_000, ge=1, description="most characters in one text")
    max_body_bytes: int = Field(default=2_097_152, ge=1, description="largest request body the API reads")
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1, description="largest CSV the Predict page reads")
    cors_origins: str = Field(default="", description="comma-separated origins CORS allows; empty: CORS off")
    serve_batch_size: int = Field(default=16, ge=1, description="most texts per micro-batched model call")
    serve_batch_wait_ms: float = Field(default=2.0, ge=0.0, le=1000.0, description="how long a batch waits for more")
    serve_threads: int | None = Field(default=None, ge=1, le=256, description="torch threads per API worker "
                                      "(default: 1 for the word-level families, torch's own otherwise)")
    serve_runtime: Literal["auto", "torch", "onnxruntime"] = Field(
        default="auto", description="what runs /predict's batches: torch, onnxruntime, or auto (onnxruntime for a "
        "transformer on the CPU when it exports, passes the check and is faster)")
    explain_concurrency: int = Field(default=1, ge=1, le=64, description="explanation processes per API worker")
    explain_queue: int = Field(default=4, ge=0, le=10_000, description="explanation requests that may wait")
    explain_timeout_s: float = Field(default=60.0, gt=0.0, le=86_400.0, description="time limit of one explanation")
    explain_threads: int | None = Field(default=None, ge=1, le=256, description="torch threads per explanation "
                                        "process (default: half the cores, shared)")
    explain_precision: Literal["auto", "float32", "bfloat16"] = Field(
        default="auto", description="number format of gradient explanations (auto: bfloat16 for a transformer "
        "checkpoint on a CPU with native bfloat16)")
    batch_precision: Literal["auto", "float32", "bfloat16", "int8"] = Field(
        default="auto", description="number format of batch predictions (auto: bfloat16 for a transformer "
        "checkpoint on a CPU with native bfloat16, else float32)")
    max_loaded_models: int = Field(default=3, ge=1, le=100, description="models kept in memory per process")
    allow_pickle_weights: bool = Field(default=False, description="also load pytorch_model.bin checkpoints (a "
                                       "pickle can run code: only for sources you trust)")

    @field_validator("imdb_data")
    @classmethod
    def _strip_source(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("IMDB_DATA is empty: set it to a hub id, a folder or a CSV file")
        return value

    @field_validator("device", "serve_runtime", "explain_precision", "batch_precision", mode="before")
    @classmethod
    def _lower_choice(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value


def cache_dir() -> Path:
    """Where derived data is kept between runs: SENTIMENT_CACHE_DIR, else SENTIMENT_MODELS_DIR/.cache."""
    settings = get_settings()
    return Path(settings.cache_dir or settings.models_dir / ".cache").expanduser()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call `get_settings.cache_clear()`); a bad value raises a
    SettingsError naming its environment variable."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as error:
        problems = []
        for item in error.errors():
            name = str(item["loc"][0]) if item.get("loc") else "?"
            variable = name if name.isupper() else env_name(name)
            message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
            problems.append(f"{variable}={item.get('input')!r}: {message}")
        raise SettingsError(f"Invalid setting{'s' if len(problems) > 1 else ''}: {'; '.join(problems)}. Fix the "
                            "environment variable (or its line in .env, read from the current directory).") from None


def env_name(field: str) -> str:
    """The environment variable of a Settings field, e.g. max_texts -> SENTIMENT_MAX_TEXTS."""
    alias = Settings.model_fields[field].validation_alias
    if alias is not None and hasattr(alias, "choices"):
        return str(alias.choices[0])
    return f"{Settings.model_config['env_prefix']}{field}".upper()


def resolve_device(requested: str | None = None) -> str:
    """Turn `auto` into the best available device: cuda, then mps, then cpu."""
    import torch

    requested = (requested or get_settings().device).lower()
    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise SettingsError(
            "SENTIMENT_DEVICE=cuda but no CUDA GPU is visible to torch: "
            "set SENTIMENT_DEVICE=auto or cpu, or install a CUDA build of torch."
        )
    if requested == "mps" and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise SettingsError(
            "SENTIMENT_DEVICE=mps but Apple's MPS backend is not available: "
            "set SENTIMENT_DEVICE=auto or cpu."
        )
    if requested not in {"cpu", "cuda", "mps"}:
        raise SettingsError(
            f"Unknown device {requested!r}: use one of auto, cpu, cuda, mps (SENTIMENT_DEVICE)."
        )
    return requested


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX): then bfloat16 matmuls beat
    float32; elsewhere they are emulated and slower."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:  # not Linux: no way to tell cheaply, so no
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def describe_device(device: str | None = None) -> str:
    """A human sentence naming the device a run would use, e.g. 'CPU (no GPU found)'."""
    import torch

    device = resolve_device(device)
    if device == "cuda":
        return f"GPU: {torch.cuda.get_device_name(0)} (CUDA, {torch.cuda.device_count()} visible)"
    if device == "mps":
        return "GPU: Apple MPS"
    return "CPU (no GPU found)" if not torch.cuda.is_available() else "CPU (chosen by SENTIMENT_DEVICE)"
