"""The renderer: highlights, their legend and escaping, the top-words table."""

from sentiment_core.explain.attribution import explain
from sentiment_core.explain.render import highlight_html, top_words
from tests.explain.conftest import polarity_bow


def test_highlight_html_colours_escapes_and_greys_the_unread_tail(word_tokenizer):
    predictor = polarity_bow(word_tokenizer)
    predictor.max_length = 8  # good alert ( 1 ) bad movie and | the rest is long
    text = "good <script>alert(1)</script> bad movie <br /> and the rest is long"
    (explanation,) = explain(predictor, text)
    page = highlight_html(explanation)
    assert "<script" not in page and ">alert<" in page
    assert 'title="good: +' in page and "rgba(22, 163, 74" in page  # green for good
    assert 'title="bad: -' in page and "rgba(220, 38, 38" in page  # red for bad
    assert explanation.truncated and 'class="unread"' in page and "the rest is long" in page


def test_top_words_ranks_both_ways(word_tokenizer):
    predictor = polarity_bow(word_tokenizer)
    (explanation,) = explain(predictor, "good good movie, bad ending")
    table = top_words(explanation, k=3)
    assert table.iloc[-1]["word"] == "good" and table.iloc[-1]["count"] == 2
    assert table.iloc[0]["word"] == "bad" and table.iloc[0]["score"] < 0
    assert "," not in set(table["word"])


def test_head_tail_highlight_greys_the_skipped_middle(word_tokenizer):
    from tests.inference.test_predictor import LONG, random_predictor

    predictor = random_predictor("bow", word_tokenizer).with_reading("head_tail")
    explanation = explain(predictor, LONG, method="occlusion")[0]
    (start, end), = explanation.unread
    page = highlight_html(explanation)
    assert 'class="unread"' in page and LONG[start + 1:end - 1][:30] in page
    assert all(not start <= w.start < end for w in explanation.words)
