import io
import json
from types import SimpleNamespace

import pytest

from sentiment_core.core import runs
from sentiment_core.core.errors import InputError, RunError
from sentiment_core.evaluation import pairs as paired
from sentiment_core.evaluation.pairs import read_pairs, score_pairs

# Hand-made pairs, the rows of pairs 1 and 2 interleaved (a pair's first row is its original, wherever it is);
# labels written every accepted way; pair 1's kind only on its edit; pair 4's edit keeps the label.
PAIRS_TSV = (
    "Pair\tText\tLabel\tKind\n"
    "1\ta good film\tpositive\t\n"
    "2\tit was not good\tneg\tnegation\n"
    "1\ta bad film\tnegative\tantonym\n"
    "2\tit was good\t1\tnegation\n"
    "3\tgood fun\tpos\tnegation\n"
    "3\tno fun\t0\tnegation\n"
    "4\tgood acting\tPositive\t\n"
    "4\tgood acting, good plot\tpositive\t\n"
)


class GoodMeansPositive:
    """A model whose answers the test states: positive exactly when the text holds "good"."""

    name = "good-means-positive"

    def encode(self, text: str) -> str:
        if not any(c.isalpha() for c in text):
            raise InputError("The review has no words the model can read: type or paste a review.")
        return text

    def predict(self, texts, batch_size=64, progress=None, batch=False):
        assert batch  # one batched pass over both texts of every pair
        if progress:
            progress(len(texts), len(texts))
        return [SimpleNamespace(label="positive" if "good" in t else "negative",
                                probability=0.9 if "good" in t else 0.1) for t in texts]


def write(tmp_path, text: str, name: str = "contrast.tsv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_hand_made_file_scores_exactly(tmp_path):
    pair_set = read_pairs(write(tmp_path, PAIRS_TSV))
    assert pair_set.name == "contrast" and pair_set.has_kinds and len(pair_set.pairs) == 4
    first = pair_set.pairs[0]
    assert (first.pair, first.original, first.edit, first.original_label, first.edit_label, first.kind) == (
        "1", "a good film", "a bad film", 1, 0, "antonym")
    progress = []
    result = score_pairs(GoodMeansPositive(), pair_set, progress=lambda done, total: progress.append((done, total)))
    assert progress[-1] == (8, 8)
    # Originals: 1, 3, 4 right ("it was not good" is called positive); edits: all right; both: 1, 3, 4.
    assert result.all == {"pairs": 4, "original_correct": 3, "edit_correct": 4, "consistent": 3, "label_kept": 1,
                          "original_accuracy": 0.75, "edit_accuracy": 1.0, "consistency": 0.75}
    by_kind = {k["kind"]: k for k in result.kinds}
    assert list(by_kind) == ["antonym", "negation", None]
    assert (by_kind["negation"]["pairs"], by_kind["negation"]["consistency"]) == (2, 0.5)
    assert by_kind["antonym"]["consistency"] == by_kind[None]["consistency"] == 1.0 and by_kind[None]["label_kept"] == 1
    assert result.inconsistent_count == 1 and [e["pair"] for e in result.inconsistent] == ["2"]
    assert result.inconsistent[0]["original"] == {"text": "it was not good", "label": "negative",
                                                  "predicted": "positive", "probability": 0.9}
    assert any("1 of 4 pairs keep the original's label" in note for note in result.notes)
    payload = json.loads(json.dumps(result.to_dict()))  # plain JSON, and read back whole
    assert paired.PairsResult.from_dict(payload) == result
    assert paired.summary(result)["per_kind"]["negation"] == {"pairs": 2, "original_accuracy": 0.5,
                                                              "edit_accuracy": 1.0, "consistency": 0.5}


def test_csv_tsv_and_uploads_are_read_alike(tmp_path):
    from_tsv = read_pairs(write(tmp_path, PAIRS_TSV))
    as_csv = "\ufeff" + PAIRS_TSV.replace("good acting, good plot", '"good acting, good plot"').replace("\t", ",")
    assert read_pairs(write(tmp_path, as_csv, "contrast.csv")).pairs == from_tsv.pairs  # a BOM, quotes, commas
    assert read_pairs(write(tmp_path, PAIRS_TSV, "contrast.txt")).pairs == from_tsv.pairs  # sniffed: tabs
    upload = io.BytesIO(PAIRS_TSV.encode())
    upload.name = "mine.tsv"
    uploaded = read_pairs(upload)
    assert uploaded.pairs == from_tsv.pairs and uploaded.name == "mine" and uploaded.sha256 == from_tsv.sha256
    no_kinds = read_pairs(write(tmp_path, "pair,review,label\n007,good,1\n007,bad,0\n", "plain.csv"))
    assert not no_kinds.has_kinds and no_kinds.pairs[0].pair == "007"  # ids stay text
    assert score_pairs(GoodMeansPositive(), no_kinds).kinds == []


@pytest.mark.parametrize("text, message", [
    ("", "is empty"),
    ("pair,text,label\n", "has a header but no rows"),
    ("id,text,sentiment\n1,good,1\n1,bad,0\n", r"has no pair or label column \(columns: id, text, sentiment\)"),
    ("pair\ttext\tlabel\n1\tgood\t1\n",
     r"no pair, text or label column .*the header holds tabs: if the file is tab-separated, name it \.tsv"),
    ("pair,text,label\n1,good,1\n1,bad,0\n2,fine,1\n3,a,1\n3,b,0\n3,c,1\n",
     r"exactly 2 rows \(the original, then its edit\): pairs 2 \(1 row\), 3 \(3 rows\)"),
    ("pair,text,label\n1,good,1\n1,  ,0\n", "pair 1 has an empty text"),
    ("pair,text,label\n1,good,1\n1,bad,meh\n2,good,1\n2,bad,\n", r"holds 'meh', '' \(pairs 1, 2\): use negative"),
    ("pair,text,label\n1,good,1\n,bad,0\n", r"rows without a pair id \(row 2 after the header\)"),
])
def test_bad_files_are_refused_with_the_problem_and_the_fix(tmp_path, text, message):
    with pytest.raises(InputError, match=message):
        read_pairs(write(tmp_path, text, "bad.csv"))


def test_missing_files_other_encodings_and_unreadable_texts_are_refused(tmp_path):
    with pytest.raises(InputError, match="does not exist: give the path of a CSV or TSV"):
        read_pairs(tmp_path / "nowhere.csv")
    with pytest.raises(InputError, match="is a folder"):
        read_pairs(tmp_path)
    (tmp_path / "latin.csv").write_bytes("pair,text,label\n1,caf\xe9,1\n1,bad,0\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8 text"):
        read_pairs(tmp_path / "latin.csv")
    symbols = read_pairs(write(tmp_path, "pair,text,label\n1,good,1\n1,!!!,0\n2,good,1\n2,bad,0\n", "symbols.csv"))
    with pytest.raises(InputError, match="pair 1 has a text with no word this model can read"):
        score_pairs(GoodMeansPositive(), symbols)


def test_a_runs_pairs_json_keeps_one_entry_per_file(tmp_path):
    run_dir = runs.create_run("some-run", {"model": "bow"})
    first = score_pairs(GoodMeansPositive(), read_pairs(write(tmp_path, PAIRS_TSV)))
    other = score_pairs(GoodMeansPositive(), read_pairs(write(tmp_path, PAIRS_TSV, "other.tsv")))
    paired.save_pairs(run_dir, first)
    paired.save_pairs(run_dir, other)
    again = score_pairs(GoodMeansPositive(), read_pairs(write(tmp_path, PAIRS_TSV.replace("no fun", "good"))))
    paired.save_pairs(run_dir, again)  # the same name again: replaces its entry, keeps the other
    stored = paired.run_pairs("some-run")
    assert [r.name for r in stored] == ["other", "contrast"] and stored[1].consistency == 0.5
    saved = json.loads((run_dir / paired.PAIRS_FILE).read_text())
    assert saved["version"] == paired.PAIRS_VERSION and len(saved["sets"]) == 2
    (run_dir / paired.PAIRS_FILE).write_text("{not json")
    with pytest.raises(RunError, match="pairs.json is corrupted: delete it"):
        paired.run_pairs("some-run")
    assert paired.run_pairs("another-run") == []


def test_the_table_puts_runs_side_by_side(tmp_path):
    result = score_pairs(GoodMeansPositive(), read_pairs(write(tmp_path, PAIRS_TSV)))
    table = paired.pairs_table({"a": result, "b": result})
    assert list(table.columns) == ["kind", "pairs", "label_kept", "originals (a)", "edits (a)", "consistency (a)",
                                   "originals (b)", "edits (b)", "consistency (b)"]
    assert table["kind"].tolist() == ["all pairs", "antonym", "negation", "none"]
    assert table["consistency (b)"].tolist() == [0.75, 1.0, 0.5, 1.0] and table["pairs"].tolist() == [4, 1, 2, 1]
