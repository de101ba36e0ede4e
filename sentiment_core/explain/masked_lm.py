"""Words a backbone's masked-language-model head proposes in place of a review's word, for the counterfactual
search: a `pretrained` run whose backbone, found on this machine (a folder, or a hub id already in the cache),
carries its MLM head (BERT, DistilBERT, RoBERTa ... as published). Nothing is downloaded here, no remote code is
run, weights come from safetensors; a backbone without the head (a sentence encoder such as MiniLM) proposes
nothing."""

from __future__ import annotations

import threading
import weakref

import torch

from sentiment_core.data.text import STOP_WORDS
from sentiment_core.inference.predictor import Predictor

PROPOSALS_PER_WORD = 4  # whole words kept of the head's top guesses
GUESSES = 30  # the head's top tokens looked at per masked word
CONTEXT_CHARS = 600  # characters of context kept on each side of the masked word

_HEADS: weakref.WeakKeyDictionary[Predictor, object] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def masked_lm(predictor: Predictor):
    """The backbone's masked-LM model (eval mode, CPU float32), or None where there is none on this machine."""
    with _LOCK:
        if predictor not in _HEADS:
            _HEADS[predictor] = _load(getattr(predictor.model.config, "backbone", None))
        return _HEADS[predictor]


def _load(backbone: str | None):
    if not backbone:
        return None
    from transformers import AutoModelForMaskedLM
    from transformers.utils import logging as hf_logging

    from sentiment_core.inference.checkpoints import quiet_progress

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "weights not initialized" is how a missing head shows: checked below
    try:
        with quiet_progress():
            model, info = AutoModelForMaskedLM.from_pretrained(backbone, local_files_only=True, use_safetensors=True,
                                                               trust_remote_code=False, output_loading_info=True)
    except (OSError, ValueError, KeyError):  # not on this machine, not safetensors, or no masked-LM class
        return None
    finally:
        hf_logging.set_verbosity(level)
    if info.get("missing_keys"):  # the head was made up, not loaded
        return None
    return model.eval().requires_grad_(False)


def proposals(predictor: Predictor, text: str, spans: list[tuple[int, int]]) -> dict[tuple[int, int], list[str]]:
    """Each span's word -> up to PROPOSALS_PER_WORD other whole words the head would put there (no stop words,
    letters only), its likeliest first; {} without a head."""
    model = masked_lm(predictor) if spans else None
    mask = predictor.tokenizer.mask_token_id
    if model is None or mask is None:
        return {}
    tokenizer = predictor.tokenizer
    found: dict[tuple[int, int], list[str]] = {}
    with torch.inference_mode():
        for start, end in spans:
            left, right = text[max(0, start - CONTEXT_CHARS):start], text[end:end + CONTEXT_CHARS]
            encoded = tokenizer(left + tokenizer.mask_token + right, return_tensors="pt", truncation=True,
                                max_length=min(512, tokenizer.model_max_length or 512))
            where = (encoded["input_ids"][0] == mask).nonzero()
            if not len(where):
                continue
            logits = model(**{k: v for k, v in encoded.items() if k in ("input_ids", "attention_mask",
                                                                          "token_type_ids")}).logits
            guesses = logits[0, int(where[0])]  # (vocab,)
            top = guesses.topk(min(GUESSES, guesses.numel())).indices.tolist()
            original = text[start:end].lower()
            words = []
            for token in tokenizer.convert_ids_to_tokens(top):
                if token is None:  # an id past the tokenizer's vocabulary (a head padded to a round size)
                    continue
                word = token.lstrip("Ġ▁")
                if (word.isalpha() and word.lower() != original and word.lower() not in STOP_WORDS
                        and not token.startswith("##") and word not in words):
                    words.append(word.lower())
            found[(start, end)] = words[:PROPOSALS_PER_WORD]
    return found
