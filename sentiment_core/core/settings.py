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
    """Studio settings.

    Args (environment variable in brackets):
        imdb_data (`IMDB_DATA`): where the IMDB reviews come from: a hub dataset id, a folder
            of parquet files, an `aclImdb` folder or a Kaggle-style CSV.
        models_dir (`SENTIMENT_MODELS_DIR`): folder holding one sub-folder per training run.
        device (`SENTIMENT_DEVICE`): `auto` (cuda, then mps, then cpu), `cpu`, `cuda` or `mps`.
        validation_fraction (`SENTIMENT_VALIDATION_FRACTION`): share of train held out for validation.
        seed (`SENTIMENT_SEED`): seed of the validation split (and default training seed).
        serve_model (`SENTIMENT_SERVE_MODEL`): model source the REST API serves: a run id, a checkpoint
            folder or a hub id (default: SENTIMENT_SERVE_RUN, else the finished run with the best test
            accuracy); `python -m sentiment_core serve --model SRC` sets it.
        serve_run (`SENTIMENT_SERVE_RUN`): the run the REST API serves (the older name of serve_model for a run).
        api_key (`SENTIMENT_API_KEY`): when set, the API refuses requests without it (401) in the
            `X-API-Key` header or as `Authorization: Bearer <key>`; /health and the docs stay open.
        max_texts (`SENTIMENT_MAX_TEXTS`): most texts in one /predict request.
        max_chars (`SENTIMENT_MAX_CHARS`): most characters in one text.
        max_body_bytes (`SENTIMENT_MAX_BODY_BYTES`): largest request body the API reads, in bytes.
        max_upload_bytes (`SENTIMENT_MAX_UPLOAD_BYTES`): largest CSV the Predict page's batch tab reads, in bytes.
        cors_origins (`SENTIMENT_CORS_ORIGINS`): comma-separated origins allowed by CORS; empty
            (the default) turns CORS off.
        serve_batch_size (`SENTIMENT_SERVE_BATCH_SIZE`): the API's micro-batcher runs the model on at most this
            many texts at once.
        serve_batch_wait_ms (`SENTIMENT_SERVE_BATCH_WAIT_MS`): how long the micro-batcher waits for more
            requests before running a batch that is not full.
        serve_threads (`SENTIMENT_SERVE_THREADS`): torch threads in each API worker; unset (the
            default): 1 for bow, lstm and transformer (small batches run fastest on one, and the
            other cores serve the event loop), torch's default for a `pretrained` backbone.
        serve_runtime (`SENTIMENT_SERVE_RUNTIME`): what runs the API's micro-batched /predict calls of the
            served model: torch; onnxruntime (the model exported to ONNX at startup and checked within 1e-4 of
            PyTorch's logits; the server does not start when that fails); or auto, the default (for a
            `transformer` model on the CPU, onnxruntime when it is installed, the model exports and passes the
            check, and it is faster than PyTorch on `serve_threads` threads; torch otherwise). Explanations
            always run PyTorch.
        explain_concurrency (`SENTIMENT_EXPLAIN_CONCURRENCY`): explanations each API worker runs at
            once, each in its own process (so they never queue behind predictions, nor predictions
            behind them).
        explain_queue (`SENTIMENT_EXPLAIN_QUEUE`): explanation requests that may wait for a free
            process; one more is answered 503 with Retry-After at once.
        explain_timeout_s (`SENTIMENT_EXPLAIN_TIMEOUT_S`): time limit of one explanation, in
            seconds: past it the process is killed (the work stops) and the answer is 504. A request
            that waited this long for a free process gets 503 with Retry-After.
        explain_threads (`SENTIMENT_EXPLAIN_THREADS`): torch threads of each explanation process;
            unset (the default): half the cores this process may use, shared by the
            `explain_concurrency` processes, at least 1 (on 2 cores: 1, and a core stays free for
            predictions).
        batch_precision (`SENTIMENT_BATCH_PRECISION`): number format of batch predictions (files, `evaluate`,
            a pretrained run's test pass): float32, bfloat16, int8 (dynamic quantization of the Linear layers),
            or auto (for a transformer checkpoint on a CPU with native bfloat16: bfloat16; float32 otherwise:
            int8 lost 0.7 points of accuracy on the full-data MiniLM run, README). Interactive predictions
            always use float32.
        explain_precision (`SENTIMENT_EXPLAIN_PRECISION`): number format of gradient explanations:
            float32, bfloat16, or auto (bfloat16 for transformer checkpoints, the `pretrained` family's
            and any Hugging Face model's, on a CPU with native bfloat16; float32 otherwise). The
            convergence delta reports what it costs.
        max_loaded_models (`SENTIMENT_MAX_LOADED_MODELS`): most models kept in memory at once (per
            process); loading one more drops the least recently used.
        allow_pickle_weights (`SENTIMENT_ALLOW_PICKLE_WEIGHTS`): also load checkpoints whose weights are
            only a pickle (`pytorch_model.bin`), read with torch's weights_only loader. Off by default:
            a pickle can run code; set it only for sources you trust.
    """

    model_config = SettingsConfigDict(
        env_prefix="SENTIMENT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    imdb_data: str = Field(
        default=DEFAULT_DATA_SOURCE,
        validation_alias=AliasChoices("IMDB_DATA", "SENTIMENT_IMDB_DATA"),
    )
    models_dir: Path = Path("models")
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    validation_fraction: float = Field(default=0.1, gt=0.0, lt=1.0)
    seed: int = 42
    serve_run: str | None = None
    serve_model: str | None = None
    api_key: SecretStr | None = None
    max_texts: int = Field(default=64, ge=1)
    max_chars: int = Field(default=20_000, ge=1)
    max_body_bytes: int = Field(default=2_097_152, ge=1)
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    cors_origins: str = ""
    serve_batch_size: int = Field(default=16, ge=1)
    serve_batch_wait_ms: float = Field(default=2.0, ge=0.0, le=1000.0)
    serve_threads: int | None = Field(default=None, ge=1, le=256)
    serve_runtime: Literal["auto", "torch", "onnxruntime"] = "auto"
    explain_concurrency: int = Field(default=1, ge=1, le=64)
    explain_queue: int = Field(default=4, ge=0, le=10_000)
    explain_timeout_s: float = Field(default=60.0, gt=0.0, le=86_400.0)
    explain_threads: int | None = Field(default=None, ge=1, le=256)
    explain_precision: Literal["auto", "float32", "bfloat16"] = "auto"
    batch_precision: Literal["auto", "float32", "bfloat16", "int8"] = "auto"
    max_loaded_models: int = Field(default=3, ge=1, le=100)
    allow_pickle_weights: bool = False

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
    """Whether this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX): then bfloat16 matmuls
    run about twice as fast as float32; elsewhere they are emulated and slower."""
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
