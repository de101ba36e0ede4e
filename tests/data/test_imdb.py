import datasets
import pandas as pd
import pytest

from sentiment_core.data.imdb import (
    LABEL_NAMES,
    DataSourceError,
    data_info,
    describe_source,
    load_imdb,
    split_counts,
)
from tests.conftest import SHARED_IMDB, make_reviews


def _check_shape(dataset, n_train_total, n_test, with_rating=False):
    assert set(dataset) == {"train", "validation", "test"}
    assert dataset["train"].num_rows + dataset["validation"].num_rows == n_train_total
    assert dataset["test"].num_rows == n_test
    for split in dataset.values():
        assert split.features["label"] == datasets.ClassLabel(names=LABEL_NAMES)
        assert split.features["text"] == datasets.Value("string")
        assert ("rating" in split.features) == with_rating
    counts = split_counts(dataset).set_index("split")
    assert (counts["neg"] == counts["pos"]).all(), counts


def test_parquet_folder(parquet_dir):
    dataset = load_imdb(parquet_dir)
    _check_shape(dataset, 20, 10)
    assert dataset["validation"].num_rows == 2
    assert describe_source(parquet_dir).startswith("parquet folder")


def test_parquet_hub_layout_with_shards(tmp_path):
    folder = tmp_path / "hub" / "plain_text"
    folder.mkdir(parents=True)
    make_reviews(10, seed=1)[["text", "label"]].to_parquet(folder / "train-00000-of-00001.parquet")
    make_reviews(5, seed=2)[["text", "label"]].to_parquet(folder / "test-00000-of-00001.parquet")
    frame = make_reviews(5, seed=9)[["text"]].assign(label=-1)
    frame.to_parquet(folder / "unsupervised-00000-of-00001.parquet")
    _check_shape(load_imdb(tmp_path / "hub"), 20, 10)


def test_acl_folder_keeps_ratings_and_ignores_unsup(acl_dir):
    for path in (acl_dir, acl_dir.parent):  # the aclImdb folder itself or the folder holding it
        dataset = load_imdb(path)
        _check_shape(dataset, 20, 10, with_rating=True)
        positive = dataset["test"].filter(lambda row: row["label"] == 1)
        assert min(positive["rating"]) >= 7
        assert "unlabelled" not in dataset["train"]["text"]
    assert describe_source(acl_dir).startswith("aclImdb folder")


def test_csv_is_split_half_and_half(csv_file):
    dataset = load_imdb(csv_file)
    _check_shape(dataset, 20, 20)
    assert describe_source(csv_file).startswith("CSV file")


def test_csv_split_column_is_honoured(tmp_path):
    frame = make_reviews(10)
    frame = pd.DataFrame({
        "review": frame.text,
        "sentiment": frame.label.map({0: "Negative", 1: "positive"}),
        "split": ["train", "train", "test"] * 6 + ["train", "train"],
    })
    frame.to_csv(tmp_path / "split.csv", index=False)
    dataset = load_imdb(tmp_path / "split.csv", validation_fraction=0.5)
    assert dataset["test"].num_rows == 6
    assert dataset["train"].num_rows + dataset["validation"].num_rows == 14


def test_validation_split_is_stratified_and_seeded(parquet_dir):
    first = load_imdb(parquet_dir, validation_fraction=0.5, seed=1)
    again = load_imdb(parquet_dir, validation_fraction=0.5, seed=1)
    other = load_imdb(parquet_dir, validation_fraction=0.5, seed=2)
    assert first["validation"]["text"] == again["validation"]["text"]
    assert first["validation"]["text"] != other["validation"]["text"]
    assert sorted(first["validation"]["label"]) == [0] * 5 + [1] * 5


def test_source_defaults_to_settings(parquet_dir, use_source):
    use_source(parquet_dir)
    assert load_imdb()["test"].num_rows == 10
    assert data_info()["splits"]["test"] == {"rows": 10, "neg": 5, "pos": 5}


# --- bad sources: a DataSourceError (a ValueError) naming the source, the problem and the fix

def _error(source) -> str:
    with pytest.raises(DataSourceError) as info:
        load_imdb(source)
    message = str(info.value)
    assert str(source) in message
    assert info.value.problem in message and info.value.fix in message  # what went wrong, what to do
    assert len(info.value.fix) > 20
    return message


def test_missing_path(tmp_path):
    assert "does not exist" in _error(tmp_path / "nowhere")


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    assert "empty" in _error(tmp_path / "empty")


def test_folder_without_parquet(tmp_path):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("hello")
    assert "no parquet file for train and test" in _error(tmp_path / "junk")


def test_csv_without_columns(tmp_path):
    path = tmp_path / "bad.csv"
    pd.DataFrame({"body": ["x"], "stars": [3]}).to_csv(path, index=False)
    message = _error(path)
    assert "'review' and a 'sentiment' column" in message and "body" in message


def test_csv_with_other_labels(tmp_path):
    path = tmp_path / "labels.csv"
    pd.DataFrame({"review": ["a", "b", "c"], "sentiment": ["positive", "neutral", "meh"]}).to_csv(path, index=False)
    message = _error(path)
    assert "'neutral'" in message and "positive/negative" in message


def test_parquet_with_other_labels(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    pd.DataFrame({"text": ["a", "b"], "label": [0, 2]}).to_parquet(folder / "train.parquet")
    pd.DataFrame({"text": ["a", "b"], "label": [0, 1]}).to_parquet(folder / "test.parquet")
    assert "labels must be 0 (neg) or 1 (pos)" in _error(folder)


def test_parquet_without_text_column(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    for split in ("train", "test"):
        pd.DataFrame({"review": ["a", "b"], "label": [0, 1]}).to_parquet(folder / f"{split}.parquet")
    assert "no text column" in _error(folder)


def test_acl_folder_without_reviews(tmp_path):
    (tmp_path / "aclImdb" / "train" / "pos").mkdir(parents=True)
    assert "no reviews" in _error(tmp_path / "aclImdb")


def test_unsupported_file(tmp_path):
    path = tmp_path / "reviews.json"
    path.write_text("{}")
    assert "not a supported source" in _error(path)


def test_hub_unreachable_says_so_and_suggests_a_local_copy(monkeypatch):
    from sentiment_core.data import imdb as data_module

    monkeypatch.setattr(data_module, "hub_reachable", lambda timeout=3.0: False)
    message = _error("stanfordnlp/imdb")
    assert "hub is unreachable" in message and "point IMDB_DATA at the local copy" in message
    assert "set HF_HUB_OFFLINE=1 to read it from there" in message


def test_with_hf_hub_offline_set_the_error_does_not_advise_setting_it(monkeypatch):
    from huggingface_hub import constants

    from sentiment_core.data import imdb as data_module

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'stanfordnlp/imdb' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(data_module.datasets, "load_dataset", offline)
    message = _error("stanfordnlp/imdb")
    assert "HF_HUB_OFFLINE is set, and the dataset is not in your Hugging Face cache" in message
    assert "set HF_HUB_OFFLINE=1" not in message


def test_hub_error_is_wrapped(monkeypatch):
    from sentiment_core.data import imdb as data_module

    def fail(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'someone/imdb' on the Hub")

    monkeypatch.setattr(data_module, "hub_reachable", lambda timeout=3.0: True)
    monkeypatch.setattr(data_module.datasets, "load_dataset", fail)
    assert "could not be reached" in _error("someone/imdb")


def test_too_small_for_validation(tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    pd.DataFrame({"text": ["good", "bad"], "label": [1, 0]}).to_parquet(folder / "train.parquet")
    pd.DataFrame({"text": ["good", "bad"], "label": [1, 0]}).to_parquet(folder / "test.parquet")
    assert "too small" in _error(folder)


def test_bad_validation_fraction(parquet_dir):
    with pytest.raises(ValueError, match="validation_fraction"):
        load_imdb(parquet_dir, validation_fraction=1.0)


@pytest.mark.skipif(not SHARED_IMDB.is_dir(), reason=f"the full IMDB copy is not at {SHARED_IMDB}")
def test_full_shared_copy():
    info = data_info(SHARED_IMDB)["splits"]
    assert info["train"] == {"rows": 22_500, "neg": 11_250, "pos": 11_250}
    assert info["validation"] == {"rows": 2_500, "neg": 1_250, "pos": 1_250}
    assert info["test"] == {"rows": 25_000, "neg": 12_500, "pos": 12_500}


@pytest.mark.parametrize("fraction, seed", [(0.1, 42), (0.25, 7)])
def test_stratified_split_holds_out_the_rows_train_test_split_would(parquet_dir, fraction, seed):
    import datasets

    from sentiment_core.data.imdb import stratified_split

    raw = datasets.load_dataset("parquet", data_files=str(parquet_dir / "train.parquet"))["train"]
    raw = raw.cast_column("label", datasets.ClassLabel(names=["neg", "pos"]))
    train, held_out = stratified_split(raw, fraction, seed)
    expected = raw.train_test_split(test_size=fraction, stratify_by_column="label", seed=seed)
    assert train["text"] == expected["train"]["text"] and held_out["text"] == expected["test"]["text"]
