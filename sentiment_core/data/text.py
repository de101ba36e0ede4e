"""Review cleaning and the word-level tokenizer (Hugging Face `tokenizers`).

The tokenizer does its cleaning inside its normalizer (HTML tags out, common entities
decoded, lower-casing, optional stop-word removal), so every token keeps an offset into
the text exactly as the user typed it: `token_spans` returns those character spans.
"""

from __future__ import annotations

import html
import importlib.util
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

from sentiment_core.core.errors import InputError

if TYPE_CHECKING:  # transformers takes seconds to import: only the tokenizer builder needs it
    from transformers import PreTrainedTokenizerFast

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"
TAG_PATTERN = r"</?[A-Za-z][^<>]*>"  # <br />, <i>, </SPOILER>; leaves "<=8" alone
WORD_PATTERN = r"\w+(?:'\w+)*|[^\w\s]"  # words (with inner apostrophes) or one punctuation mark
ENTITIES = {"&amp;": "&", "&quot;": '"', "&lt;": "<", "&gt;": ">", "&#39;": "'", "&nbsp;": " "}
# Negations carry sentiment ("not good"): they stay even when stop words are removed.
NEGATIONS = frozenset(
    {"no", "not", "nor", "never", "none", "nothing", "nobody", "neither", "nowhere", "cannot"}
)


def _english_stop_words() -> frozenset[str]:
    """scikit-learn's English stop words, read from its own list without importing scikit-learn
    (a second of start-up the Dataset and Predict pages do not need)."""
    package = importlib.util.find_spec("sklearn")
    listing = Path(package.origin).parent / "feature_extraction" / "_stop_words.py" if package else None
    if listing is not None and listing.is_file():
        spec = importlib.util.spec_from_file_location("_sklearn_stop_words", listing)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if isinstance(getattr(module, "ENGLISH_STOP_WORDS", None), frozenset):
            return module.ENGLISH_STOP_WORDS
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS  # another layout: the public name

    return frozenset(ENGLISH_STOP_WORDS)


STOP_WORDS = _english_stop_words() - NEGATIONS

_TAG_RE = re.compile(TAG_PATTERN)
_SPACE_RE = re.compile(r"\s+")
_WORD_RE = re.compile(WORD_PATTERN)


def clean_text(text: str, lowercase: bool = False, remove_stopwords: bool = False) -> str:
    """Strip HTML tags, decode entities, squeeze whitespace; optionally lower-case and drop stop words."""
    text = html.unescape(_TAG_RE.sub(" ", text))
    text = _SPACE_RE.sub(" ", text).strip()
    if lowercase:
        text = text.lower()
    if remove_stopwords:
        text = " ".join(
            word for word in text.split(" ") if word.lower().strip(".,!?;:\"'()") not in STOP_WORDS
        )
    return text


def words(text: str, lowercase: bool = True) -> list[str]:
    """The words of a cleaned review, split the way the tokenizer splits them."""
    return _WORD_RE.findall(clean_text(text, lowercase=lowercase))


@dataclass(frozen=True)
class TokenizerConfig:
    """Word tokenizer options.

    Args:
        vocab_size: largest vocabulary, special tokens included.
        min_frequency: a word must appear this often in train to get its own id.
        lowercase: fold case before splitting.
        remove_stopwords: drop English stop words (negations are kept).
        model_max_length: longest input the models read; longer reviews are truncated.
    """

    vocab_size: int = 50_000
    min_frequency: int = 2
    lowercase: bool = True
    remove_stopwords: bool = False
    model_max_length: int = 512

    def __post_init__(self) -> None:
        if self.vocab_size < 3:
            raise InputError(f"vocab_size must be at least 3 (two special tokens + a word), got {self.vocab_size}")
        if self.min_frequency < 1:
            raise InputError(f"min_frequency must be at least 1, got {self.min_frequency}")
        if self.model_max_length < 1:
            raise InputError(f"model_max_length must be positive, got {self.model_max_length}")


def _normalizer(config: TokenizerConfig) -> normalizers.Normalizer:
    steps = [normalizers.Replace(Regex(TAG_PATTERN), " ")]
    steps += [normalizers.Replace(entity, char) for entity, char in ENTITIES.items()]
    if config.lowercase:
        steps.append(normalizers.Lowercase())
    if config.remove_stopwords:
        alternatives = "|".join(sorted(map(re.escape, STOP_WORDS), key=len, reverse=True))
        flags = "" if config.lowercase else "(?i)"
        steps.append(normalizers.Replace(Regex(rf"{flags}\b(?:{alternatives})\b(?!')"), ""))
    return normalizers.Sequence(steps)


def build_word_tokenizer(
    texts: Iterable[str], config: TokenizerConfig | None = None
) -> "PreTrainedTokenizerFast":
    """Train a word-level tokenizer on `texts` (the train split) and wrap it for transformers."""
    from transformers import PreTrainedTokenizerFast

    config = config or TokenizerConfig()
    tokenizer = Tokenizer(models.WordLevel(unk_token=UNK_TOKEN))
    tokenizer.normalizer = _normalizer(config)
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex(WORD_PATTERN), behavior="isolated")]
    )
    trainer = trainers.WordLevelTrainer(
        vocab_size=config.vocab_size,
        min_frequency=config.min_frequency,
        special_tokens=[PAD_TOKEN, UNK_TOKEN],
        show_progress=False,
    )
    tokenizer.train_from_iterator(_batches(texts), trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=PAD_TOKEN,
        unk_token=UNK_TOKEN,
        model_max_length=config.model_max_length,
        padding_side="right",
    )
    wrapped.init_kwargs.update(
        lowercase=config.lowercase,
        remove_stopwords=config.remove_stopwords,
        min_frequency=config.min_frequency,
    )
    return wrapped


def vocabulary_ids(tokenizer: "PreTrainedTokenizerFast", words: Iterable[str]) -> list[int]:
    """The sorted ids of those of `words` a word tokenizer's vocabulary holds (the others are left out)."""
    vocabulary = tokenizer.get_vocab()
    return sorted({vocabulary[word] for word in words if word in vocabulary})


def _batches(texts: Iterable[str], size: int = 1000) -> Iterator[list[str]]:
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass(frozen=True)
class TokenSpan:
    """One token and the characters of the original text it came from (`text[start:end]`)."""

    token: str
    token_id: int
    start: int
    end: int


def token_spans(tokenizer: "PreTrainedTokenizerFast", text: str, max_length: int | None = None) -> list[TokenSpan]:
    """Tokens of `text` with their character spans in `text` as given (special tokens left out)."""
    encoded = tokenizer(
        text,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
        add_special_tokens=True,
        truncation=max_length is not None,
        max_length=max_length,
    )
    ids, offsets, special = encoded["input_ids"], encoded["offset_mapping"], encoded["special_tokens_mask"]
    tokens = tokenizer.convert_ids_to_tokens(ids)
    return [
        TokenSpan(token, token_id, start, end)
        for token, token_id, (start, end), is_special in zip(tokens, ids, offsets, special)
        if not is_special and end > start
    ]
