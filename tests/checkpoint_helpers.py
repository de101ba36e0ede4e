"""Tiny random Hugging Face sequence classifiers saved like hub checkpoints, one per tokenizer style.

Each builder trains (or writes) its tokenizer offline from the fixture's words, saves a 1-layer
model with `save_pretrained` (safetensors) and returns the folder:
- `bert_checkpoint`: BERT with a WordPiece vocabulary (`##` pieces, lower-casing, token_type_ids);
- `roberta_checkpoint`: RoBERTa with a byte-level BPE (`Ġ`), positions offset by padding_idx + 1;
- `albert_checkpoint`: ALBERT with a SentencePiece Unigram vocabulary (`▁`).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from tests.conftest import NEGATIVE, NEUTRAL, POSITIVE, make_reviews

TWO_LABELS = {0: "NEGATIVE", 1: "POSITIVE"}
THREE_LABELS = {0: "negative", 1: "neutral", 2: "positive"}
STAR_LABELS = {i: f"{i + 1} star" + ("s" if i else "") for i in range(5)}
# Typed text with HTML, punctuation, repeated and unknown words, and runs of spaces.
TRICKY_TEXT = "Great movie!! <br /><br />great, GREAT... xyzzy   qwv unbelievable plot. It's well-made &amp; dull"


def corpus() -> list[str]:
    return list(make_reviews(30).text) + [TRICKY_TEXT.replace("xyzzy", "").replace("qwv", ""),
                                          "A great movie, unbelievable acting and a dull plot."]


def _tiny(config_class, **options):
    # a wide initialisation, so that a random model's output moves with its input
    return config_class(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                        initializer_range=0.5, **options)


def _labels(id2label: dict[int, str]) -> dict:
    return {"id2label": dict(id2label), "label2id": {v: k for k, v in id2label.items()}}


def bert_checkpoint(folder: Path, id2label: dict[int, str] = TWO_LABELS, seed: int = 0,
                    max_position_embeddings: int = 64) -> Path:
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    words = sorted(set(NEUTRAL + POSITIVE + NEGATIVE + ["br", "un", "##believ", "##able", "it", "##'", "##s", "well",
                                                         "made", "amp", "plot", "movie", "great", "dull"]))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "!", "<", ">", "/", "&", ";", "'", "-"] + words
    (folder / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n", encoding="utf-8")
    BertTokenizer(vocab=str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(seed)
    config = _tiny(BertConfig, vocab_size=len(dict.fromkeys(vocab)), max_position_embeddings=max_position_embeddings,
                   **_labels(id2label))
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder


def roberta_checkpoint(folder: Path, id2label: dict[int, str] = THREE_LABELS, seed: int = 0) -> Path:
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaForSequenceClassification, RobertaTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus(), vocab_size=400, min_frequency=2,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.save_model(str(folder))
    tokenizer = RobertaTokenizer(vocab=str(folder / "vocab.json"), merges=str(folder / "merges.txt"))
    tokenizer.save_pretrained(folder)
    torch.manual_seed(seed)
    config = _tiny(RobertaConfig, vocab_size=len(tokenizer), max_position_embeddings=40, pad_token_id=1,
                   bos_token_id=0, eos_token_id=2, **_labels(id2label))
    RobertaForSequenceClassification(config).save_pretrained(folder)
    return folder


def albert_checkpoint(folder: Path, id2label: dict[int, str] = STAR_LABELS, seed: int = 0) -> Path:
    from tokenizers import SentencePieceUnigramTokenizer
    from transformers import AlbertConfig, AlbertForSequenceClassification, AlbertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    unigram = SentencePieceUnigramTokenizer()
    unigram.train_from_iterator([t.lower() for t in corpus()], vocab_size=120, unk_token="<unk>",
                                special_tokens=["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"])
    vocab = [tuple(piece) for piece in json.loads(unigram.to_str())["model"]["vocab"]]
    tokenizer = AlbertTokenizer(vocab=vocab)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(seed)
    config = _tiny(AlbertConfig, vocab_size=len(tokenizer), embedding_size=8, max_position_embeddings=64,
                   **_labels(id2label))
    AlbertForSequenceClassification(config).save_pretrained(folder)
    return folder


BUILDERS = {"bert": bert_checkpoint, "roberta": roberta_checkpoint, "albert": albert_checkpoint}
