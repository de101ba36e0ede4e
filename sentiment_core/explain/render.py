"""How an explanation is shown: the review with its words on green (toward positive) or red (toward
negative), a legend, the tables the Predict page draws, and self-contained HTML pages and file reports."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import pandas as pd

from sentiment_core.core.errors import InputError
from sentiment_core.data.text import TAG_PATTERN
from sentiment_core.explain.attribution import Explanation
from sentiment_core.explain.methods import METHODS

_TAG_RE = re.compile(TAG_PATTERN)

_BREAK_RE = re.compile(r"<br\s*/?>", re.IGNORECASE)


def top_words(explanation: Explanation, k: int = 10) -> pd.DataFrame:
    """The k words pushing most toward positive and the k pushing most toward negative.

    Repeated words are summed (case folded). Columns: word, score (toward positive), count.
    """
    frame = pd.DataFrame({
        "word": [w.word.lower() for w in explanation.words],
        "score": explanation.positive_scores(),
    })
    if frame.empty:
        return pd.DataFrame(columns=["word", "score", "count"])
    grouped = frame.groupby("word", as_index=False).agg(score=("score", "sum"), count=("score", "size"))
    grouped = grouped[grouped["word"].str.contains(r"\w", regex=True)  # punctuation rarely helps a reader
                      & ~grouped["word"].str.fullmatch(TAG_PATTERN)]  # nor markup
    positive = grouped[grouped["score"] > 0].nlargest(k, "score")
    negative = grouped[grouped["score"] < 0].nsmallest(k, "score")
    return pd.concat([positive, negative]).sort_values("score").reset_index(drop=True)


def _colour(score: float, scale: float) -> str:
    strength = min(abs(score) / scale, 1.0) if scale > 0 else 0.0
    rgb = "22, 163, 74" if score > 0 else "220, 38, 38"
    return f"rgba({rgb}, {0.08 + 0.72 * strength:.2f})" if strength > 0.02 else "transparent"


def _plain(segment: str) -> str:
    """Text between words: <br> tags become line breaks, other tags go, the rest is escaped."""
    lines = _BREAK_RE.split(segment)
    return "<br>".join(html.escape(_TAG_RE.sub("", line)) for line in lines)


def highlight_html(explanation: Explanation, scale: float | None = None, legend: bool = True) -> str:
    """The text with each word on a green (pushes positive) or red (pushes negative) background.

    Colour strength is |score| / scale (default: the largest |score|); hovering shows the score.
    Text the model did not read (truncated) is greyed out. Tags inside words are skipped.
    legend: put `legend_html(scale)` (what full green and full red mean) above the text.
    """
    scores = explanation.positive_scores()
    scale = scale or max((abs(s) for s in scores), default=0.0)
    text, pieces, cursor = explanation.text, [], 0
    unread = sorted(explanation.unread) or _legacy_unread(explanation)
    marks = [(start, end, None) for start, end in unread]
    words = [(w.start, w.end, (w, score)) for w, score in zip(explanation.words, scores)]
    for start, end, item in sorted(marks + words, key=lambda mark: (mark[0], mark[2] is not None)):
        if start < cursor:
            continue
        pieces.append(_plain(text[cursor:start]))
        if item is None:  # a span the model did not read: cut, or a head+tail reading's middle
            pieces.append('<span class="unread" title="not read by the model (beyond what it reads of a long '
                          f'review)" style="color: #9ca3af;">{_plain(text[start:end])}</span>')
            cursor = end
            continue
        word, score = item
        if _TAG_RE.fullmatch(word.word):  # markup the model read: shown as the page shows it, not as text
            pieces.append(_plain(word.word))
            cursor = word.end
            continue
        tip = f"{word.word}: {score:+.3f} toward positive"
        pieces.append(
            f'<span class="word" title="{html.escape(tip, quote=True)}" data-score="{score:.4f}" '
            f'style="background-color: {_colour(score, scale)}; border-radius: 3px; padding: 0 1px;">'
            f"{html.escape(text[word.start:word.end])}</span>"
        )
        cursor = word.end
    pieces.append(_plain(text[cursor:]))
    return (
        (legend_html(scale) if legend else "")
        + '<div class="explanation" style="line-height: 1.9; font-size: 1rem; white-space: pre-wrap;">'
        + "".join(pieces) + "</div>"
    )


def edits_html(text: str, edits) -> str:
    """The review as a diff of its edits (`data.edits.Edit`s, spans into `text`): each old text struck through on
    red, each new one marked on green; a deletion shows only the struck-through words."""
    pieces, cursor = [], 0
    for edit in sorted(edits, key=lambda e: e.start):
        pieces.append(_plain(text[cursor:edit.start]))
        space = edit.old[:len(edit.old) - len(edit.old.lstrip())]  # a removal takes the space before it
        pieces.append(_plain(space))
        tip = html.escape(f"{edit.kind}: {edit.old.strip()!r} -> {edit.new!r}", quote=True)
        pieces.append(f'<del class="edit-old" title="{tip}" style="background-color: rgba(220, 38, 38, 0.18); '
                      f'color: #991b1b;">{html.escape(edit.old[len(space):])}</del>')
        if edit.new:
            pieces.append(f'<ins class="edit-new" title="{tip}" style="background-color: rgba(22, 163, 74, 0.25); '
                          f'text-decoration: none; font-weight: 600; margin-left: 2px;">{html.escape(edit.new)}</ins>')
        cursor = edit.end
    pieces.append(_plain(text[cursor:]))
    return ('<div class="counterfactual" style="line-height: 1.9; font-size: 1rem; white-space: pre-wrap;">'
            + "".join(pieces) + "</div>")


def _legacy_unread(explanation: Explanation) -> list[tuple[int, int]]:
    """Unread spans of an explanation saved before they were recorded: after read_until when truncated."""
    if explanation.truncated and explanation.read_until < len(explanation.text):
        return [(explanation.read_until, len(explanation.text))]
    return []


def align_words(first: Explanation, second: Explanation) -> pd.DataFrame:
    """Two explanations of the same text side by side, one row per word span (scores toward positive)."""
    if first.text != second.text:
        raise InputError("Both explanations must be of the same text to align their words.")

    def frame(explanation: Explanation, column: str) -> pd.DataFrame:
        return pd.DataFrame({
            "start": [w.start for w in explanation.words], "end": [w.end for w in explanation.words],
            "word": [w.word for w in explanation.words], column: explanation.positive_scores(),
        })

    merged = frame(first, "first").merge(frame(second, "second"), on=["start", "end"], how="outer", suffixes=("", "_b"))
    merged["word"] = merged["word"].fillna(merged.pop("word_b"))
    return merged.fillna({"first": 0.0, "second": 0.0}).sort_values("start").reset_index(drop=True)


def legend_html(scale: float) -> str:
    """What the highlight colours mean: full red / full green = a push of `scale` log-odds or more."""
    if scale <= 0:
        return ('<div class="legend" style="font-size: 0.85rem; color: #6b7280; margin: 0.25rem 0;">'
                "Every word scored 0: nothing is highlighted.</div>")
    ramp = f"linear-gradient(to right, {_colour(-scale, scale)}, transparent, {_colour(scale, scale)})"
    return (
        '<div class="legend" style="display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem; '
        'font-size: 0.85rem; color: #374151; margin: 0.25rem 0;">'
        f'<span style="white-space: nowrap;">&minus;{scale:.2f} log-odds (toward negative)</span>'
        f'<span style="display: inline-block; width: 9rem; height: 0.8rem; border-radius: 3px; '
        f'border: 1px solid #d1d5db; background: {ramp};"></span>'
        f'<span style="white-space: nowrap;">+{scale:.2f} (toward positive)</span>'
        '<span style="color: #6b7280;">full colour: a word moves the log-odds by this much or more; '
        "hover a word for its score</span></div>"
    )


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; color: #111827; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin: 1.5rem 0 0.25rem; } \
h3 { font-size: 0.95rem; margin: 0.25rem 0; }
.caption { color: #4b5563; font-size: 0.9rem; margin: 0.25rem 0; }
section, .row { border-top: 1px solid #e5e7eb; padding: 0.5rem 0; }
.columns { display: flex; gap: 2rem; flex-wrap: wrap; }
table { border-collapse: collapse; font-size: 0.9rem; }
td, th { padding: 0.15rem 0.6rem; border-bottom: 1px solid #e5e7eb; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
"""


def document_html(title: str, body: str) -> str:
    """A self-contained HTML document (one inline stylesheet, no scripts): every page this package writes."""
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
            f"<h1>{html.escape(title)}</h1>{body}</body></html>\n")


def _caption(text: str) -> str:
    return f'<p class="caption">{html.escape(text)}</p>' if text else ""


def explanation_page_html(explanations: Explanation | list[Explanation], title: str | None = None,
                          captions: list[str] | None = None) -> str:
    """One review highlighted by one or more methods, as a downloadable page.

    captions: one line per explanation shown under its method's name (e.g. its faithfulness scores).
    """
    if isinstance(explanations, Explanation):
        explanations = [explanations]
    if not explanations:
        raise ValueError("No explanation to put on the page.")
    if len({e.text for e in explanations}) > 1:
        raise ValueError("A page shows one review: every explanation must be of the same text.")
    first = explanations[0]
    sections = []
    for index, explanation in enumerate(explanations):
        caption = captions[index] if captions and index < len(captions) else ""
        method = METHODS[explanation.method].title if explanation.method in METHODS else explanation.method
        sections.append(f"<section><h2>{html.escape(method)}</h2>{_caption(caption)}"
                        f"{_caption(f'Explaining the {explanation.target_label} class.')}"
                        f"{highlight_html(explanation)}</section>")
    summary = (f'<p class="caption">Prediction: <b>{html.escape(first.predicted_label)}</b>, '
               f"P(positive) = {first.probability:.3f}.</p>")
    body = summary + "".join(_caption(note) for note in first.notes) + "".join(sections)
    return document_html(title or f"Why the model says {first.predicted_label}", body)


def _words_table(frame, title: str) -> str:
    body = "".join(
        f"<tr><td>{html.escape(r.word)}</td><td class='num'>{r.score:+.3f}</td><td class='num'>{r.count}</td>"
        f"<td class='num'>{r.mean:+.3f}</td></tr>" for r in frame.itertuples()
    ) or "<tr><td colspan='4'>none</td></tr>"
    return (f"<div><h3>{html.escape(title)}</h3><table><tr><th>word</th><th>total</th><th>times</th>"
            f"<th>mean</th></tr>{body}</table></div>")


@dataclass
class ReportRow:
    """One row of a file report: its heading, notes, and its explanation (None: no result, `text` shown plain)."""

    head: str
    notes: list[str]
    explanation: Explanation | None
    text: str = ""


def file_report_html(title: str, about: str, counts: str, words, scale: float, rows: list[ReportRow],
                     capped: str = "") -> str:
    """An explanation file's report: what was asked, counts per label, the words that pushed most toward each
    class (`words`: word, score, count, mean), and rows highlighted on one colour `scale`."""
    shown = []
    for row in rows:
        body = "".join(_caption(note) for note in row.notes)
        body += (highlight_html(row.explanation, scale=scale, legend=False) if row.explanation is not None
                 else f"<div>{html.escape(row.text)}</div>")
        shown.append(f"<div class='row'><h3>{html.escape(row.head)}</h3>{body}</div>")
    return document_html(title, (
        _caption(about) + f"<p>{html.escape(counts)}</p>"
        "<h2>Words that pushed most toward each class across the file</h2>"
        + _caption("Each word's scores (log-odds toward positive) summed over every row, case folded. Frequent "
                   "words add up: the mean per occurrence shows how strong each one is.")
        + f"<div class='columns'>{_words_table(words[words['score'] < 0], 'toward negative')}"
        f"{_words_table(words[words['score'] > 0].iloc[::-1], 'toward positive')}</div>"
        "<h2>Rows</h2>" + legend_html(scale) + _caption(capped) + "".join(shown)))
