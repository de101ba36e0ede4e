"""Predictor: load a run's best model and tokenizer, predict batches of reviews, explain them.

Long reviews are truncated to the run's `max_length` tokens, as in training: each
prediction says whether that happened and up to which character the model read
(`read_until`), so a page can show the part the model saw.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from sentiment_core.errors import InputError, SentimentError
from sentiment_core import runs
from sentiment_core.losses import positive_probability
from sentiment_core.settings import cpu_has_native_bf16, get_settings, resolve_device
from sentiment_core.text import STOP_WORDS, WORD_PATTERN

if TYPE_CHECKING:  # pandas loads on first use: the API's predictions do not need it
    import pandas as pd

LABELS = ("negative", "positive")
_WORD_RE = re.compile(WORD_PATTERN)
_ALPHA_WORD_RE = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")
ENGLISH_NOTE = (
    "The model was trained on English movie reviews; this text does not look like one "
    "({reason}), so the prediction means little."
)


@dataclass
class Encoded:
    """One text as the model reads it (special tokens included, no padding).

    input_ids, offsets, special: one entry per token read; offsets are (start, end) in the text.
    total_tokens: tokens before truncation; read_until: the first character the model did not read.
    """

    text: str
    input_ids: list[int]
    offsets: list[tuple[int, int]]
    special: list[bool]
    total_tokens: int
    read_until: int

    @property
    def truncated(self) -> bool:
        return self.total_tokens > self.tokens_read

    @property
    def tokens_read(self) -> int:
        return sum(not s for s in self.special)


@dataclass
class Prediction:
    """The model's verdict on one text."""

    label: str
    probability: float  # of positive
    truncated: bool
    tokens_read: int
    total_tokens: int
    read_until: int  # characters [0, read_until) were read
    notes: list[str] = field(default_factory=list)

    @property
    def confidence(self) -> float:
        return max(self.probability, 1 - self.probability)

    def to_dict(self) -> dict:
        return asdict(self)


def reading_notes(text: str, encoded: Encoded, unknown_token_id: int | None) -> list[str]:
    """Plain-language caveats: truncation, and text that does not look like an English review."""
    notes = []
    if encoded.truncated:
        notes.append(
            f"The review is longer than the model reads: it used the first {encoded.tokens_read} of "
            f"{encoded.total_tokens} tokens (up to character {encoded.read_until}); the rest was cut."
        )
    words = _ALPHA_WORD_RE.findall(text.lower())
    real = [i for i, s in zip(encoded.input_ids, encoded.special) if not s]
    unknown = sum(i == unknown_token_id for i in real) / len(real) if real and unknown_token_id is not None else 0.0
    english = sum(w in STOP_WORDS for w in words) / len(words) if words else 0.0
    if not words:
        notes.append(ENGLISH_NOTE.format(reason="it has no letters"))
    elif unknown > 0.5:
        notes.append(ENGLISH_NOTE.format(reason=f"{unknown:.0%} of its words are unknown to the model"))
    elif len(words) >= 6 and english < 0.08:
        notes.append(ENGLISH_NOTE.format(reason="it has almost none of the common English words"))
    return notes


class Predictor:
    """A trained model with its tokenizer, ready to predict and explain.

    Build it with `Predictor.from_run(run_id)` (cached) or `Predictor.from_folder(path)`.
    """

    def __init__(self, model, tokenizer, family: str, max_length: int, device: str = "cpu", run_id: str | None = None):
        # Inference only: explanations need gradients for the inputs, never for the weights (a third of the work).
        self.model = model.to(device).eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.family = family
        self.max_length = int(max_length)
        self.device = device
        self.run_id = run_id
        self.word_level = family != "pretrained"
        self._bfloat16_model: torch.nn.Module | None = None

    # --- loading ----------------------------------------------------------------------

    @classmethod
    def from_run(cls, run_id: str, device: str | None = None) -> Predictor:
        """The best model of a finished run (cached until the run's model files change)."""
        run_dir = runs.run_path(run_id)
        if not run_dir.is_dir():
            raise runs.RunError(f"No run {run_id!r} in {runs.models_dir()}: pick one from `python -m sentiment_core runs list`.")
        folder = run_dir / runs.BEST_DIR
        config_file = folder / "config.json"
        if not config_file.exists():
            state = runs.effective_status(run_dir).get("state", "unknown")
            raise runs.RunError(
                f"Run {run_id!r} has no trained model yet (state: {state}): wait for it to finish, "
                "resume it, or pick a finished run."
            )
        config = runs.read_config(run_dir)
        device = resolve_device(device)
        return _load_cached(str(folder.resolve()), config_file.stat().st_mtime_ns, config["model"],
                            int(config["max_length"]), device, run_id)

    @classmethod
    def from_folder(cls, folder: str | Path, family: str | None = None, max_length: int | None = None,
                    device: str | None = None, run_id: str | None = None) -> Predictor:
        """Load `model.safetensors` + config + tokenizer from a folder (a run's best/ or an export)."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from sentiment_core import modeling

        folder = Path(folder)
        try:
            model = AutoModelForSequenceClassification.from_pretrained(folder, use_safetensors=True)
            tokenizer = AutoTokenizer.from_pretrained(folder)
        except Exception as error:  # OSError, ValueError, SafetensorError...: all mean an unusable folder
            raise runs.RunError(
                f"Cannot load the model in {folder} ({type(error).__name__}: {error}); the run may be "
                "half-written or corrupted: retrain it or pick another run."
            ) from None
        if family is None:
            family = next((name for name, (config_class, _) in modeling.FAMILIES.items()
                           if config_class.model_type == model.config.model_type), None)
            if family is None:
                raise runs.RunError(f"{folder} holds a {model.config.model_type!r} model, not one of this project's families.")
        max_length = max_length or min(int(tokenizer.model_max_length), 100_000)
        return cls(model, tokenizer, family, max_length, resolve_device(device), run_id)

    def explain_precision(self) -> str:
        """float32 or bfloat16 for gradient explanations (SENTIMENT_EXPLAIN_PRECISION; auto:
        bfloat16 for the transformer backbone on a CPU with native bfloat16, where it halves the time)."""
        chosen = get_settings().explain_precision
        if chosen == "auto":
            native = self.device == "cpu" and self.family == "pretrained" and cpu_has_native_bf16()
            chosen = "bfloat16" if native else "float32"
        return chosen

    def explanation_model(self) -> torch.nn.Module:
        """The model explanations differentiate: this one, or a bfloat16 copy (made once) when
        `explain_precision` says so, its backbone on plain attention (whose backward is 2x faster
        than SDPA's on CPU). Predictions always use the model as trained."""
        if self.explain_precision() != "bfloat16":
            return self.model
        if self._bfloat16_model is None:
            model = copy.deepcopy(self.model).to(torch.bfloat16)
            backbone = getattr(model, "backbone", None)
            if getattr(getattr(backbone, "config", None), "_attn_implementation", "eager") != "eager":
                backbone.set_attn_implementation("eager")
            self._bfloat16_model = model
        return self._bfloat16_model

    # --- encoding ---------------------------------------------------------------------

    def encode(self, text: str) -> Encoded:
        """Tokens the model reads for `text`, with their character offsets in `text`."""
        if not isinstance(text, str):
            raise InputError(f"a review must be text, got {type(text).__name__}")
        add_special = not self.word_level
        full = self.tokenizer(text, add_special_tokens=add_special, truncation=False, verbose=False,
                              return_offsets_mapping=True, return_special_tokens_mask=True)
        special_full = [bool(s) for s in full["special_tokens_mask"]]
        total = sum(not s for s in special_full)
        if total <= self.max_length - (sum(special_full)):
            ids, offsets, special = full["input_ids"], full["offset_mapping"], special_full
        else:
            cut = self.tokenizer(text, add_special_tokens=add_special, truncation=True, max_length=self.max_length,
                                 return_offsets_mapping=True, return_special_tokens_mask=True)
            ids, offsets, special = cut["input_ids"], cut["offset_mapping"], [bool(s) for s in cut["special_tokens_mask"]]
        if not any(not s for s in special):
            raise InputError("The review has no words the model can read: type or paste a review.")
        read = [end for (start, end), s in zip(offsets, special) if not s]
        read_until = len(text) if total == sum(not s for s in special) else max(read)
        return Encoded(text, list(ids), [tuple(o) for o in offsets], special, total, read_until)

    def batch_tensors(self, encoded: Sequence[Encoded]) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-padded input_ids and attention_mask. -> 2 x (batch, seq_len)"""
        width = max(len(e.input_ids) for e in encoded)
        pad = self.tokenizer.pad_token_id or 0
        input_ids = torch.full((len(encoded), width), pad, dtype=torch.long)
        attention_mask = torch.zeros((len(encoded), width), dtype=torch.long)
        for row, e in enumerate(encoded):
            input_ids[row, : len(e.input_ids)] = torch.tensor(e.input_ids)
            attention_mask[row, : len(e.input_ids)] = 1
        return input_ids.to(self.device), attention_mask.to(self.device)

    # --- the model --------------------------------------------------------------------

    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
               token_weights: torch.Tensor | None = None, model: torch.nn.Module | None = None) -> torch.Tensor:
        """Model logits, each token's input scaled by `token_weights` (batch, seq_len); 0 removes a word.

        bow scales each word's (and its bigrams') bag weight; the other families scale the word
        embedding (a zero embedding is what padding and word dropout give them). `model`: this
        predictor's model (default) or its `explanation_model()`. -> (batch, num_labels)
        """
        model = self.model if model is None else model
        if token_weights is None:
            return model(input_ids=input_ids, attention_mask=attention_mask).logits
        if self.family == "bow":
            return model(input_ids=input_ids, attention_mask=attention_mask, token_weights=token_weights).logits
        embeddings = model.get_input_embeddings()
        scale = token_weights.unsqueeze(-1)  # (batch, seq_len, 1)

        def scale_output(module, inputs, output):
            return output * scale.to(output.dtype)

        handle = embeddings.register_forward_hook(scale_output)
        try:
            return model(input_ids=input_ids, attention_mask=attention_mask).logits
        finally:
            handle.remove()

    def positive_log_odds(self, input_ids, attention_mask, token_weights=None, model=None) -> torch.Tensor:
        """log P(pos) - log P(neg) per text, in float32. -> (batch,)"""
        logits = self.logits(input_ids, attention_mask, token_weights, model).float()
        if logits.size(-1) == 2:
            return logits[:, 1] - logits[:, 0]
        return logits.reshape(-1)

    # --- public API -------------------------------------------------------------------

    @torch.no_grad()
    def predict(self, texts: Sequence[str], batch_size: int = 64,
                progress: Callable[[int, int], None] | None = None) -> list[Prediction]:
        """Label and P(positive) for each text; batches of similar lengths for speed."""
        if isinstance(texts, str):
            raise InputError("predict takes a list of texts, not one string: wrap it in a list")
        encoded = [self.encode(text) for text in texts]
        order = np.argsort([len(e.input_ids) for e in encoded], kind="stable")
        probabilities = np.zeros(len(encoded))
        for start in range(0, len(order), batch_size):
            chosen = order[start:start + batch_size]
            input_ids, attention_mask = self.batch_tensors([encoded[i] for i in chosen])
            probabilities[chosen] = positive_probability(self.logits(input_ids, attention_mask).float()).cpu().numpy()
            if progress:
                progress(min(start + batch_size, len(order)), len(order))
        unknown = self.tokenizer.unk_token_id
        return [
            Prediction(
                label=LABELS[int(p >= 0.5)], probability=float(p), truncated=e.truncated,
                tokens_read=e.tokens_read, total_tokens=e.total_tokens, read_until=e.read_until,
                notes=reading_notes(e.text, e, unknown),
            )
            for e, p in zip(encoded, probabilities)
        ]

    def explain(self, texts: Sequence[str] | str, method: str = "integrated_gradients", target: int | str | None = None, **options):
        """Word-level attributions for each text: see `sentiment_core.explain.explain`."""
        from sentiment_core.explain import explain

        return explain(self, texts, method=method, target=target, **options)


@functools.lru_cache(maxsize=4)
def _load_cached(folder: str, mtime_ns: int, family: str, max_length: int, device: str, run_id: str) -> Predictor:
    return Predictor.from_folder(folder, family=family, max_length=max_length, device=device, run_id=run_id)


def finished_runs() -> list[dict]:
    """Runs with a trained model, best test accuracy first (rows of `runs.list_runs()`)."""
    table = runs.list_runs()
    if table.empty:
        return []
    rows = table[table["state"] == "finished"].to_dict("records")
    rows = [r for r in rows if (Path(r["path"]) / runs.BEST_DIR / "config.json").exists()]

    def score(row):
        test = row.get("test_accuracy")
        return -(test if test == test and test is not None else -1.0)  # NaN/None last

    return sorted(rows, key=score)


def best_run_id() -> str | None:
    """The finished run with the highest test accuracy, or None when there is none."""
    rows = finished_runs()
    return rows[0]["run_id"] if rows else None


# --- batch files ------------------------------------------------------------------------

TEXT_COLUMNS = ("text", "review")


def read_reviews_csv(source) -> tuple["pd.DataFrame", str]:
    """A CSV (path or file object) and the name of its review column (`text` or `review`, any case)."""
    import pandas as pd

    try:
        frame = pd.read_csv(source)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise InputError(f"Cannot read the file as CSV ({error}): upload a UTF-8 CSV with a 'text' or 'review' column.") from None
    by_lower = {str(c).strip().lower(): c for c in frame.columns}
    column = next((by_lower[name] for name in TEXT_COLUMNS if name in by_lower), None)
    if column is None:
        found = ", ".join(map(str, frame.columns[:10])) or "none"
        raise InputError(f"The file has no 'text' or 'review' column (columns: {found}): rename the column holding the reviews.")
    return frame, column


def predict_table(predictor: Predictor, frame: "pd.DataFrame", column: str, batch_size: int = 64,
                  progress: Callable[[int, int], None] | None = None) -> "pd.DataFrame":
    """The frame with label, probability (of positive), truncated and note columns added.

    Rows whose text is empty or has no readable word get no label and a note instead of failing the batch.
    """
    texts = frame[column].fillna("").astype(str).tolist()
    readable = []
    for index, text in enumerate(texts):
        try:
            predictor.encode(text)
            readable.append(index)
        except InputError:
            pass
    predictions = predictor.predict([texts[i] for i in readable], batch_size=batch_size, progress=progress)
    out = frame.copy()
    out["label"], out["probability"], out["truncated"] = None, np.nan, False
    out["note"] = "empty review: no words the model can read"
    for index, prediction in zip(readable, predictions):
        out.loc[out.index[index], ["label", "probability", "truncated", "note"]] = [
            prediction.label, prediction.probability, prediction.truncated, " ".join(prediction.notes)]
    return out


# --- examples for the Predict page --------------------------------------------------------

HAND_WRITTEN_EXAMPLES = {
    "Hand-written: warm praise": "What a wonderful film! The acting is superb, the story is moving and the "
    "soundtrack stayed with me for days. I loved every minute of it.",
    "Hand-written: a stinker": "Two hours I will never get back. The plot makes no sense, the dialogue is "
    "awful and the lead looks bored in every scene. Avoid.",
    "Hand-written: mixed feelings": "The cinematography is beautiful and the first half is genuinely gripping, "
    "but the ending is a lazy mess and the villain is laughable. Not terrible, not good either.",
    "Hand-written: not in English": "Ce film est une merveille : les acteurs sont formidables et la musique "
    "est magnifique. Je le recommande à tous.",
}


@functools.lru_cache(maxsize=2)
def split_examples(source: str | None = None) -> dict[str, str]:
    """A typical positive, a typical negative and a long review from the test split ({} if unreadable)."""
    from sentiment_core.data import load_imdb

    try:
        test = load_imdb(source)["test"].to_pandas()
    except SentimentError:
        return {}
    test["words"] = test["text"].str.split().str.len()
    median = test["words"].median()
    examples = {}
    for label, name in ((1, "positive"), (0, "negative")):
        rows = test[test["label"] == label]
        row = rows.iloc[(rows["words"] - median).abs().argsort().iloc[0]]
        examples[f"Test split: a typical {name} review ({row['words']} words)"] = row["text"]
    long = test.iloc[(test["words"] - test["words"].quantile(0.97)).abs().argsort().iloc[0]]
    examples[f"Test split: a long {LABELS[long['label']]} review ({long['words']} words)"] = long["text"]
    return examples
