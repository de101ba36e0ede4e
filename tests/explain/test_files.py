import json
import re

import pandas as pd
import pytest

from sentiment_core.core.errors import InputError, UnsupportedFormatError
from sentiment_core.explain.attribution import explain
from sentiment_core.explain.files import (
    count_rows,
    explain_file,
    explanation_from_row,
    file_top_words,
    meta_path_for,
    read_rows,
    write_html_report,
)
from sentiment_core.explain.render import explanation_page_html, highlight_html, legend_html
from tests.conftest import make_reviews
from tests.explain.conftest import polarity_bow
from tests.inference.test_predictor import random_predictor

IG = "integrated_gradients"  # explained with a step option (bow's default method takes none)
STEPS = 8
MARKUP = "<script>alert('x')</script> a <b>great</b> movie"


class Interrupted(Exception):
    pass


@pytest.fixture
def reviews_csv(tmp_path):
    texts = list(make_reviews(6, seed=5).text)
    texts[3:3] = ["", MARKUP, "great\nmovie, \"loved\" it", "café ☕ — a good film"]
    path = tmp_path / "reviews.csv"
    pd.DataFrame({"id": range(len(texts)), "Review": texts}).to_csv(path, index=False)
    return path


def lines(path):
    return path.read_bytes().decode("utf-8").splitlines()


def no_nan(text):
    return json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))


def test_export_writes_one_valid_json_line_per_row(word_tokenizer, reviews_csv, tmp_path):  # noqa: F811
    predictor = random_predictor("bow", word_tokenizer)
    seen = []
    result = explain_file(predictor, reviews_csv, tmp_path / "out" / "reviews.jsonl", method=IG, steps=STEPS,
                          progress=lambda done, total: seen.append((done, total)), chunk_rows=4)
    assert count_rows(reviews_csv) == result.rows == 16 and result.explained == 16 and result.empty == 1
    assert seen[0] == (0, 16) and seen[-1] == (16, 16) and len(seen) == 17
    rows = [no_nan(line) for line in lines(result.out_path)]
    assert [r["row"] for r in rows] == list(range(16))
    assert rows[3]["words"] is None and rows[3]["label"] is None and "no words" in rows[3]["notes"][0]
    assert rows[5]["text"] == "great\nmovie, \"loved\" it" and rows[6]["text"].startswith("café ☕")
    for row in rows:
        assert row["method"] == "integrated_gradients"
        for w in row["words"] or []:
            assert row["text"][w["start"]:w["end"]] == w["word"]
    (direct,) = explain(predictor, rows[4]["text"], method=IG, steps=STEPS)
    restored = explanation_from_row(rows[4])
    assert [w.score for w in restored.words] == pytest.approx([w.score for w in direct.words], abs=1e-6)
    assert restored.probability == pytest.approx(direct.probability)
    meta = json.loads(meta_path_for(result.out_path).read_text())
    assert (meta["rows"] == 16 and meta["asked"]["method"] == "integrated_gradients"
            and meta["asked"]["column"] == "Review")


def test_interrupted_export_resumes_without_gaps_or_duplicates(word_tokenizer, reviews_csv, tmp_path):  # noqa: F811
    predictor = random_predictor("bow", word_tokenizer)
    whole = explain_file(predictor, reviews_csv, tmp_path / "whole.jsonl", method=IG, steps=STEPS).out_path

    def stop_after_seven(done, total):
        if done == 7:
            raise Interrupted

    out = tmp_path / "resumed.jsonl"
    with pytest.raises(Interrupted):
        explain_file(predictor, reviews_csv, out, method=IG, steps=STEPS, progress=stop_after_seven, chunk_rows=3)
    assert len(lines(out)) == 7
    resumed = explain_file(predictor, reviews_csv, out, method=IG, steps=STEPS, chunk_rows=3)
    assert resumed.resumed_at == 7 and resumed.explained == 9
    assert out.read_bytes() == whole.read_bytes()

    cut = out.read_bytes()
    line_ends = [m.end() for m in re.finditer(rb"\n", cut)]
    out.write_bytes(cut[: line_ends[9] + 25])  # ten whole rows and part of the eleventh
    again = explain_file(predictor, reviews_csv, out, method=IG, steps=STEPS)
    assert again.resumed_at == 10 and out.read_bytes() == whole.read_bytes()
    assert explain_file(predictor, reviews_csv, out, method=IG, steps=STEPS).explained == 0  # finished: nothing to do


def test_resume_with_other_settings_or_a_foreign_file_is_refused(word_tokenizer, reviews_csv, tmp_path):  # noqa: F811
    predictor = random_predictor("bow", word_tokenizer)
    out = tmp_path / "out.jsonl"
    explain_file(predictor, reviews_csv, out, method=IG, steps=STEPS)
    with pytest.raises(InputError, match=r"other settings \(method, options differ\)"):
        explain_file(predictor, reviews_csv, out, method="occlusion")
    with pytest.raises(InputError, match=r"other settings \(weights differ\)"):
        explain_file(random_predictor("lstm", word_tokenizer), reviews_csv, out, method=IG, steps=STEPS)
    reviews_csv.write_text(reviews_csv.read_text() + "99,one more great review\n")
    with pytest.raises(InputError, match=r"other settings \(source differ\)"):
        explain_file(predictor, reviews_csv, out, method=IG, steps=STEPS)
    meta_path_for(out).unlink()
    with pytest.raises(InputError, match="not an explanation export"):
        explain_file(predictor, reviews_csv, out, method=IG, steps=STEPS)


def test_bad_files_and_arguments_are_clear_errors(word_tokenizer, tmp_path):  # noqa: F811
    predictor = random_predictor("bow", word_tokenizer)
    with pytest.raises(InputError, match="No file .*missing.csv"):
        explain_file(predictor, tmp_path / "missing.csv", tmp_path / "out.jsonl")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("id,comment\n1,great\n")
    with pytest.raises(InputError, match="no 'text' or 'review' column.*comment"):
        explain_file(predictor, wrong, tmp_path / "out.jsonl")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"text\n\xff\xfe\x00bad\n")
    with pytest.raises(UnsupportedFormatError, match="UTF-8"):
        explain_file(predictor, binary, tmp_path / "out.jsonl")
    with pytest.raises(InputError, match="Unknown explanation method"):
        explain_file(predictor, wrong, tmp_path / "out.jsonl", method="shapley")
    with pytest.raises(InputError, match="Unknown target"):
        explain_file(predictor, wrong, tmp_path / "out.jsonl", target="neutral")
    right = tmp_path / "right.csv"
    right.write_text("text\ngreat\n")
    with pytest.raises(InputError, match="output path is the input"):
        explain_file(predictor, right, right)


def test_html_report_escapes_reviews_and_lists_the_words_of_the_file(word_tokenizer, reviews_csv, tmp_path):  # noqa: F811
    predictor = polarity_bow(word_tokenizer)
    result = explain_file(predictor, reviews_csv, tmp_path / "out.jsonl", method="occlusion",
                          html_path=tmp_path / "report.html")
    page = result.html_path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "http" not in page  # self-contained
    assert "<script" not in page and "<b>" not in page and ">alert<" in page  # tags dropped, their text shown
    assert 'class="legend"' in page and "log-odds" in page and "16 rows" in page
    assert "Occlusion" in page and "with no readable words" in page
    top = file_top_words(result.out_path, k=3)
    assert top["word"].iloc[0] == "bad" and top["word"].iloc[-1] == "good"  # the only words the model weighs
    assert len(top) == 2 and top["count"].iloc[-1] == 1
    short = write_html_report(result.out_path, tmp_path / "short.html", max_rows=3, title="<i>Mine</i>")
    text = short.read_text(encoding="utf-8")
    assert "The first 3 of 16 rows" in text and "&lt;i&gt;Mine&lt;/i&gt;" in text
    assert len(list(read_rows(result.out_path))) == 16
    same = explain_file(predictor, reviews_csv, result.out_path, method="occlusion", steps=1)
    assert same.explained == 0 and same.resumed_at == 16  # the default option, spelled out, is the same request


def test_highlight_legend_and_downloadable_page(word_tokenizer):  # noqa: F811
    predictor = polarity_bow(word_tokenizer)
    text = "good movie but a bad <i>ending</i>"
    (ig,) = explain(predictor, text, method=IG, steps=20)
    (occlusion,) = explain(predictor, text, method="occlusion")
    scale = max(abs(s) for s in ig.positive_scores())
    shown = highlight_html(ig)
    assert shown.startswith(legend_html(scale)) and f"+{scale:.2f}" in shown and "log-odds" in shown
    assert 'class="legend"' not in highlight_html(ig, legend=False)
    assert "scored 0" in legend_html(0.0)
    page = explanation_page_html([ig, occlusion], title="Why <b>this</b>?", captions=["comprehensiveness 0.40", None])
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page and "<style>" in page
    assert "Why &lt;b&gt;this&lt;/b&gt;?" in page and "<i>" not in page
    assert page.count('class="legend"') == 2 and "comprehensiveness 0.40" in page and "Occlusion" in page
    with pytest.raises(ValueError, match="same text"):
        explanation_page_html([ig, explain(predictor, "bad", method="occlusion")[0]])


def test_a_killed_export_shows_as_failed_and_continues(tmp_path):
    """The sidecar says running with the writer's pid; once that process is gone the export reads as failed."""
    import json as json_module

    from sentiment_core.explain.files import export_state, meta_path_for

    out = tmp_path / "done.jsonl"
    out.write_text('{"row": 0}\n')
    meta_path_for(out).write_text(json_module.dumps({"asked": {}, "rows": 3, "state": "running", "pid": 2 ** 22 + 7}))
    assert export_state(out) == {"state": "failed", "rows_written": 1, "rows": 3}
