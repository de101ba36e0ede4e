import time

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import CountVectorizer

from sentiment_core.core.metrics import assign_buckets, length_bucket_edges
from sentiment_core.data import eda
from sentiment_core.data.imdb import load_imdb
from sentiment_core.data.text import STOP_WORDS, clean_text, words
from tests.conftest import SHARED_IMDB

# Texts that exercise the byte-level paths (ASCII, multi-byte letters, spaces and marks, emoji,
# rare whitespace) and the Python one (entities, "İ").
TRICKY = [
    "I don't like rock'n'roll... at ALL!",
    "a''b 'quoted' end' 'start o'",
    "Great<br /><br />film. 10/10!!",
    "<i>Italic</i> and <SPOILER>hidden</SPOILER>; 3<4 and 5>2, x<=8",
    "Tom & Jerry, AT&T and &amp; &quot;quoted&quot; don&#39;t",
    "Café naïve résumé — “quotes” ½ don´t 映画 e\u0301t\u00e9 a\u00a0b\u2028c 👍🏽 great!",
    "İstanbul İİ",
    "tab\tnew\nline\x0bvertical\x0cfeed\x1cfs  spaces   ",
    "",
    "   ",
    "under_score snake_case_word 42nd",
]


def frames(train: list[tuple[str, int]], test: list[tuple[str, int]], rating=False) -> dict[str, pd.DataFrame]:
    def frame(rows):
        table = pd.DataFrame(rows, columns=["text", "label"])
        if rating:
            table["rating"] = np.where(table["label"] == 1, 9, 2)
        return table

    return {"train": frame(train), "test": frame(test)}


@pytest.fixture
def small() -> dict[str, pd.DataFrame]:
    return frames(
        train=[
            ("A great film, great cast.", 1),
            ("Great film.<br /><br />", 1),
            ("Great  film.", 1),  # the same as the row above once cleaned
            ("great film.", 1),  # differs in case: not a duplicate
            ("An awful, boring film. Awful!", 0),
            ("Awful.", 0),
            ("The worst film I have seen: awful and dull, not great at all.", 0),
        ],
        test=[
            ("Great film.", 1),  # also in train
            ("Truly great, a wonderful film.", 1),
            ("Awful.", 0),  # also in train
            ("Dull and awful, a waste of time.", 0),
        ],
    )


def test_label_balance_counts_each_split(small):
    balance = eda.label_balance(small).set_index(["split", "label"])
    assert balance.loc[("train", "pos"), "reviews"] == 4
    assert balance.loc[("train", "neg"), "reviews"] == 3
    assert balance.loc[("test", "neg"), "share"] == pytest.approx(0.5)
    assert list(balance.index.get_level_values("split").unique()) == ["train", "test"]


def test_review_table_counts_words_like_text_words():
    data = frames(train=[(t, i % 2) for i, t in enumerate(TRICKY)], test=[("ok", 1)])
    table = eda.review_table(data)
    train = table[table["split"] == "train"]
    assert train["words"].tolist() == [len(words(t)) for t in TRICKY]
    assert train["chars"].tolist() == [len(t) for t in TRICKY]
    assert train["html"].tolist() == [t in TRICKY[2:4] for t in TRICKY]
    assert train["entities"].tolist() == [t == TRICKY[4] for t in TRICKY]
    assert train["index"].tolist() == list(range(len(TRICKY)))


def test_review_table_reads_a_dataset_dict(parquet_dir):
    data = load_imdb(parquet_dir)
    table = eda.review_table(data)
    assert table.groupby("split", sort=False).size().to_dict() == {"train": 18, "validation": 2, "test": 10}
    expected = [len(words(t)) for t in data["validation"]["text"]]
    assert table.loc[table["split"] == "validation", "words"].tolist() == expected


def test_duplicates_are_found_within_and_across_splits(small):
    duplicates = eda.duplicate_reviews(small)
    groups = {frozenset(zip(g["split"], g["index"])) for _, g in duplicates.groupby("group")}
    assert groups == {
        frozenset({("train", 1), ("train", 2), ("test", 0)}),  # "Great film." after clean_text
        frozenset({("train", 5), ("test", 2)}),  # "Awful."
    }
    counts = eda.duplicate_counts(duplicates, ["train", "test"]).set_index("scope")["reviews"].to_dict()
    assert counts == {"train": 1, "test": 0, "train & test": 2}
    assert set(duplicates["text"]) == {"Great film.", "Awful."}


def test_duplicates_follow_clean_text_on_spaces_entities_and_tags():
    data = frames(
        train=[("Café\u00a0film", 1), ("A &amp; B", 0), ("A B", 1), ("<b>Bold</b> move", 1)],
        test=[("Café film", 1), ("A & B", 0), ("AB", 0), ("Bold move", 1)],
    )
    duplicates = eda.duplicate_reviews(data)
    groups = sorted(sorted(zip(g["split"], g["index"])) for _, g in duplicates.groupby("group"))
    # "A B" and "AB" share a key without spaces but differ once cleaned: not duplicates
    assert groups == [[("test", 0), ("train", 0)], [("test", 1), ("train", 1)], [("test", 3), ("train", 3)]]


def test_duplicates_of_nothing_are_empty():
    data = frames(train=[("one", 0), ("two", 1)], test=[("three", 0)])
    assert eda.duplicate_reviews(data).empty
    assert eda.duplicate_counts(eda.duplicate_reviews(data), ["train", "test"])["reviews"].tolist() == [0, 0, 0]


def test_quality_summary_counts_html_empty_and_short():
    data = frames(train=[("<br />", 0), ("one two three four five six seven eight nine ten", 1),
                         ("Nice.<br />Really nice &amp; short.", 1)], test=[("ok", 0)])
    quality = eda.quality_summary(eda.review_table(data)).set_index("split")
    assert quality.loc["train"].to_dict() == {"reviews": 3, "html": 2, "entities": 1, "empty": 1, "short": 2}
    assert quality.loc["test", "short"] == 1
    with pytest.raises(ValueError, match="short_words"):
        eda.quality_summary(eda.review_table(data), short_words=0)


def test_truncation_share_is_exact():
    assert eda.truncation_share([5, 10, 11, 20], 10).to_dict("records") == [
        {"split": "all", "reviews": 4, "truncated": 2, "share": 0.5}
    ]
    table = pd.DataFrame({"split": ["train"] * 3 + ["test"], "words": [1, 400, 401, 1000]})
    shares = eda.truncation_share(table, 400).set_index("split")
    assert shares.loc["train", "truncated"] == 1 and shares.loc["train", "share"] == pytest.approx(1 / 3)
    assert shares.loc["test", "share"] == 1.0


@pytest.mark.parametrize("bad", [0, -5, 2.5, True, "400"])
def test_truncation_share_refuses_a_bad_max_length(bad):
    with pytest.raises(ValueError, match="max_length"):
        eda.truncation_share([1, 2, 3], bad)


def test_length_quartiles_match_the_evaluation_buckets(small):
    reviews = eda.review_table(small)
    quartiles = eda.length_quartiles(reviews, "train")
    lengths = reviews.loc[reviews["split"] == "train", "words"].to_numpy()
    edges = length_bucket_edges(lengths)
    assert quartiles["low"].tolist() == edges[:-1] and quartiles["high"].tolist() == edges[1:]
    assert quartiles["reviews"].tolist() == np.bincount(assign_buckets(lengths, edges), minlength=4).tolist()
    assert quartiles["bucket"].tolist() == ["Q1", "Q2", "Q3", "Q4"]


def test_length_summary_per_split_and_label(small):
    summary = eda.length_summary(eda.review_table(small)).set_index(["split", "label"])
    assert summary.loc[("test", "neg"), "reviews"] == 2
    assert summary.loc[("test", "neg"), "max"] == len(words("Dull and awful, a waste of time."))
    assert summary.loc[("train", "neg"), "min"] == 2  # "Awful."


def test_log_odds_puts_cue_words_on_their_side(small):
    table = eda.ngram_log_odds(small, min_count=1).set_index("ngram")
    assert table.loc["great", "z"] > 0 and table.loc["awful", "z"] < 0
    assert table.loc["great film", "n"] == 2 and table.loc["great film", "z"] > 0
    assert table.loc["awful", "neg"] == 4 and table.loc["awful", "pos"] == 0
    top = eda.top_polarised(eda.ngram_log_odds(small, min_count=1), k=2)
    assert top[(top["n"] == 1) & (top["side"] == "pos")]["ngram"].iloc[0] == "great"
    assert top[(top["n"] == 1) & (top["side"] == "neg")]["ngram"].iloc[0] == "awful"
    frequent = eda.most_frequent(table.reset_index(), k=1)
    assert frequent[(frequent["n"] == 1) & (frequent["label"] == "pos")]["ngram"].tolist() == ["great"]


def test_log_odds_matches_the_formula():
    data = frames(train=[("good good bad", 1), ("bad", 0)], test=[("x", 0)])
    table = eda.ngram_log_odds(data, ngram_range=(1, 1), min_count=1).set_index("ngram")
    # y_pos: good 2, bad 1 (n_pos 3); y_neg: bad 1 (n_neg 1); alpha = total count; alpha0 = 4
    alpha = 2.0
    delta = np.log((1 + alpha) / (3 + 4 - 1 - alpha)) - np.log((1 + alpha) / (1 + 4 - 1 - alpha))
    assert table.loc["bad", "log_odds"] == pytest.approx(delta)
    assert table.loc["bad", "z"] == pytest.approx(delta / np.sqrt(1 / (1 + alpha) + 1 / (1 + alpha)))


@pytest.mark.parametrize("remove_stopwords", [False, True])
def test_ngram_counts_equal_count_vectorizer(small, remove_stopwords):
    # entities and "İ" (Python lower-cases it to "i" + a combining dot) differ: see eda._tokens
    extra = [t for t in TRICKY if "&" not in t and "İ" not in t]
    texts = [*small["train"]["text"], *extra]
    labels = [*small["train"]["label"], *(i % 2 for i in range(len(extra)))]
    data = frames(train=list(zip(texts, labels)), test=[("x", 0)])
    table = eda.ngram_log_odds(data, ngram_range=(1, 3), remove_stopwords=remove_stopwords, min_count=1)
    vectorizer = CountVectorizer(preprocessor=lambda t: clean_text(t, lowercase=True), token_pattern=r"\w+(?:'+\w+)*",
                                 ngram_range=(1, 3), stop_words=sorted(STOP_WORDS) if remove_stopwords else None)
    matrix = vectorizer.fit_transform(texts)
    labels = np.asarray(labels)
    expected = pd.DataFrame({"neg": np.asarray(matrix[labels == 0].sum(axis=0)).ravel(),
                             "pos": np.asarray(matrix[labels == 1].sum(axis=0)).ravel()},
                            index=vectorizer.get_feature_names_out())
    got = table.set_index("ngram")[["neg", "pos"]]
    pd.testing.assert_frame_equal(got.sort_index(), expected.sort_index(), check_names=False)
    if remove_stopwords:
        assert "not" in got.index and "the" not in got.index


@pytest.mark.parametrize("kwargs", [{"ngram_range": (0, 1)}, {"ngram_range": (2, 1)}, {"ngram_range": (1, 4)},
                                    {"min_count": 0}, {"prior_scale": 0}, {"split": "dev"}])
def test_ngram_log_odds_refuses_bad_arguments(small, kwargs):
    with pytest.raises(ValueError):
        eda.ngram_log_odds(small, **kwargs)


@pytest.mark.parametrize("remove_stopwords", [True, False])
def test_telling_ngrams_are_the_top_tables_of_one_log_odds_table(small, remove_stopwords):
    top, frequent = eda.telling_ngrams(small, "train", k=3, remove_stopwords=remove_stopwords, min_count=1)
    table = eda.ngram_log_odds(small, "train", (1, 2), remove_stopwords, min_count=1)
    pd.testing.assert_frame_equal(top, eda.top_polarised(table, 3))
    pd.testing.assert_frame_equal(frequent, eda.most_frequent(table, 3))


def test_arrow_tables_give_the_same_answers(parquet_dir):
    data = load_imdb(str(parquet_dir))
    tables = eda.arrow_tables(data)
    assert set(tables) == set(data) and all(t.num_rows == data[s].num_rows for s, t in tables.items())
    pd.testing.assert_frame_equal(eda.review_table(tables), eda.review_table(data))
    pd.testing.assert_frame_equal(eda.ngram_log_odds(tables, min_count=1), eda.ngram_log_odds(data, min_count=1))
    pd.testing.assert_frame_equal(eda.filter_reviews(tables, eda.review_table(tables), "test", search="the"),
                                  eda.filter_reviews(data, eda.review_table(data), "test", search="the"))


def test_top_tables_refuse_a_bad_k(small):
    table = eda.ngram_log_odds(small, min_count=1)
    with pytest.raises(ValueError, match="k must"):
        eda.top_polarised(table, 0)
    with pytest.raises(ValueError, match="k must"):
        eda.most_frequent(table, -1)


def test_rating_distribution_when_present(small):
    assert eda.rating_distribution(small) is None
    rated = frames(train=[("a", 1), ("b", 1), ("c", 0)], test=[("d", 0)], rating=True)
    ratings = eda.rating_distribution(rated)
    assert ratings.to_dict("records") == [
        {"split": "train", "rating": 2, "label": "neg", "reviews": 1},
        {"split": "train", "rating": 9, "label": "pos", "reviews": 2},
        {"split": "test", "rating": 2, "label": "neg", "reviews": 1},
    ]


def test_rating_distribution_of_an_acl_folder(acl_dir):
    ratings = eda.rating_distribution(load_imdb(acl_dir))
    assert set(ratings["split"]) == {"train", "validation", "test"}
    assert ratings.loc[ratings["label"] == "pos", "rating"].min() >= 7
    assert ratings["reviews"].sum() == 30


def test_filter_reviews_by_label_length_and_whole_word(small):
    reviews = eda.review_table(small)
    found = eda.filter_reviews(small, reviews, "train", search="GREAT")
    assert found["index"].tolist() == [0, 1, 2, 3, 6]  # "great" anywhere, any case
    assert found["text"].iloc[0] == "A great film, great cast."
    assert list(found.columns) == ["index", "label", "words", "text"]
    found = eda.filter_reviews(small, reviews, "train", label="neg", min_words=3)
    assert found["index"].tolist() == [4, 6]
    assert eda.filter_reviews(small, reviews, "train", search="gre").empty  # whole words only
    found = eda.filter_reviews(small, reviews, "test", max_words=3, limit=1)
    assert found["index"].tolist() == [0] and found.attrs["matches"] == 2
    assert eda.filter_reviews(small, reviews, "train", search="10/10").empty
    assert eda.filter_reviews(frames([("Great<br />10/10!", 1)], [("x", 0)]),
                              eda.review_table(frames([("Great<br />10/10!", 1)], [("x", 0)])),
                              "train", search="10/10")["index"].tolist() == [0]


@pytest.mark.parametrize("kwargs, message", [
    ({"split": "dev"}, "unknown split"),
    ({"split": "train", "label": "positive"}, "label must be"),
    ({"split": "train", "min_words": 5, "max_words": 2}, "larger than max_words"),
    ({"split": "train", "limit": -1}, "limit"),
])
def test_filter_reviews_refuses_bad_arguments(small, kwargs, message):
    with pytest.raises(ValueError, match=message):
        eda.filter_reviews(small, eda.review_table(small), **kwargs)


def test_unknown_split_is_named(small):
    with pytest.raises(ValueError, match="unknown split 'dev'.*train"):
        eda.length_quartiles(eda.review_table(small), "dev")


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_IMDB.exists(), reason="needs the full dataset in ../shared/data/imdb")
def test_fast_paths_are_exact_on_the_full_dataset():
    data = load_imdb(SHARED_IMDB)
    start = time.perf_counter()
    reviews = eda.review_table(data)
    print(f"review_table on 50,000 reviews: {time.perf_counter() - start:.1f} s")
    texts = [t for split in eda.split_names(data) for t in data[split]["text"]]
    assert reviews["words"].tolist() == [len(words(t)) for t in texts]
    cleaned = pd.Series([clean_text(t) for t in texts])
    assert len(eda.duplicate_reviews(data, reviews)) == int(cleaned.duplicated(keep=False).sum())
