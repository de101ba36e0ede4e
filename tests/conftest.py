"""Shared fixtures: tiny IMDB sources in every supported layout, written by the tests."""

from __future__ import annotations

import os
import random
from pathlib import Path

if os.environ.get("PYTEST_XDIST_WORKER"):  # workers share the cores: one thread each (and in the processes they start)
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
        os.environ.setdefault(variable, "1")

import pandas as pd  # noqa: E402 (after the thread limits, which must come before torch loads)
import pytest  # noqa: E402

from sentiment_core.core.settings import get_settings  # noqa: E402
from sentiment_core.data import imdb as data  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_IMDB = REPO_ROOT.parent / "shared" / "data" / "imdb"

POSITIVE = ["great", "wonderful", "loved", "brilliant", "superb", "enjoyable", "moving"]
NEGATIVE = ["awful", "boring", "terrible", "waste", "dull", "worst", "bad"]
NEUTRAL = ["the", "movie", "film", "plot", "actor", "scene", "was", "and", "a", "story", "it"]


def make_reviews(n_per_label: int, seed: int = 0) -> pd.DataFrame:
    """Reviews whose label follows their sentiment words; lengths vary; some carry <br /> tags."""
    rng = random.Random(seed)
    rows = []
    for label, cue in ((0, NEGATIVE), (1, POSITIVE)):
        for i in range(n_per_label):
            n_words = rng.randint(5, 40)
            tokens = [rng.choice(NEUTRAL) for _ in range(n_words)]
            for _ in range(max(1, n_words // 6)):
                tokens.insert(rng.randrange(len(tokens) + 1), rng.choice(cue))
            text = " ".join(tokens).capitalize() + "."
            if i % 3 == 0:
                text = text.replace(" ", "<br /><br />", 1)
            rating = rng.choice([1, 2, 3, 4]) if label == 0 else rng.choice([7, 8, 9, 10])
            rows.append({"text": text, "label": label, "rating": rating})
    return pd.DataFrame(rows)


def write_parquet_dir(folder: Path, n_train: int = 20, n_test: int = 10) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    make_reviews(n_train // 2, seed=1)[["text", "label"]].to_parquet(folder / "train.parquet")
    make_reviews(n_test // 2, seed=2)[["text", "label"]].to_parquet(folder / "test.parquet")
    return folder


def write_acl_dir(folder: Path, n_train: int = 20, n_test: int = 10) -> Path:
    root = folder / "aclImdb"
    for split, n, seed in (("train", n_train, 1), ("test", n_test, 2)):
        for i, row in enumerate(make_reviews(n // 2, seed=seed).itertuples()):
            target = root / split / ("pos" if row.label else "neg")
            target.mkdir(parents=True, exist_ok=True)
            (target / f"{i}_{row.rating}.txt").write_text(row.text, encoding="utf-8")
    (root / "train" / "unsup").mkdir()
    (root / "train" / "unsup" / "0_0.txt").write_text("unlabelled", encoding="utf-8")
    (root / "imdb.vocab").write_text("the\n", encoding="utf-8")
    return root


def write_csv(path: Path, n: int = 40) -> Path:
    frame = make_reviews(n // 2, seed=3)
    frame = pd.DataFrame(
        {"review": frame.text, "sentiment": frame.label.map({0: "negative", 1: "positive"})}
    )
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(autouse=True)
def isolated_settings(monkeypatch, tmp_path):
    """Every test gets fresh settings: models in a temp folder, no .env, cpu, caches cleared."""
    for name in [n for n in os.environ if n == "IMDB_DATA" or n.startswith("SENTIMENT_")]:
        monkeypatch.delenv(name, raising=False)  # every setting at its default, whatever the shell set
    monkeypatch.chdir(tmp_path)  # a .env in the repo must not leak into tests
    monkeypatch.setenv("SENTIMENT_MODELS_DIR", str(tmp_path / "models"))
    # The API's default (auto) exports the served model to ONNX at startup, seconds each: tests of it set it.
    monkeypatch.setenv("SENTIMENT_SERVE_RUNTIME", "torch")
    get_settings.cache_clear()
    data._load_cached.cache_clear()
    yield
    get_settings.cache_clear()
    data._load_cached.cache_clear()


@pytest.fixture
def use_source(monkeypatch):
    """Point IMDB_DATA at a source for the rest of the test."""

    def _use(source) -> str:
        monkeypatch.setenv("IMDB_DATA", str(source))
        get_settings.cache_clear()
        return str(source)

    return _use


@pytest.fixture
def parquet_dir(tmp_path) -> Path:
    return write_parquet_dir(tmp_path / "imdb_parquet")


@pytest.fixture
def acl_dir(tmp_path) -> Path:
    return write_acl_dir(tmp_path / "acl")


@pytest.fixture
def csv_file(tmp_path) -> Path:
    return write_csv(tmp_path / "IMDB Dataset.csv")


# Tiny training settings shared by the training, inference and explanation tests.
TINY = dict(vocab_size=200, min_frequency=1, batch_size=8, max_length=64)
TINY_OPTIONS = {
    "bow": {"embed_dim": 16, "bigram_buckets": 512, "hidden_sizes": [16]},
    "lstm": {"embed_dim": 16, "hidden_size": 16},
    "transformer": {"d_model": 16, "nhead": 2, "num_layers": 1, "dim_feedforward": 32},
}


@pytest.fixture
def tiny_backbone(tmp_path):
    """A tiny random BERT with a word-piece tokenizer over the fixture's words, saved like a hub model."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path / "tiny-bert"
    folder.mkdir()
    vocab = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "<", ">", "/"]
             + sorted(set(NEUTRAL + POSITIVE + NEGATIVE + ["br", "un", "##believ", "##able"])))
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=128)
    BertModel(config).save_pretrained(folder)
    return str(folder)


@pytest.fixture
def tiny_bow_run(tmp_path):
    """A finished bow run "tiny-bow" trained on a fixture; -> (run directory, data source)."""
    from sentiment_core.training.options import TrainConfig
    from sentiment_core.training.run import train

    data = str(write_parquet_dir(tmp_path / "data", n_train=80, n_test=40))
    run_dir = train(TrainConfig(model="bow", data=data, epochs=2, lr=1e-2, run_id="tiny-bow",
                                model_options=TINY_OPTIONS["bow"], **TINY))
    return run_dir, data
