"""How long reviews are read: the spans each reading takes, and the readings refused on every surface."""

import pytest

from sentiment_core.core.errors import InputError
from sentiment_core.data.reading import check_reading, reading_spans


@pytest.mark.parametrize("long_text,head,stride,message", [
    ("truncate", 10, None, "--head-tokens applies to --long-text head_tail only"),
    ("head_tail", None, 50, "--window-stride applies to --long-text windows only"),
    ("head_tail", 1024, None, "--head-tokens 1024 leaves no tokens for the end of a review.*give 1 to 1023"),
    ("windows", None, 5000, "--window-stride 5000 is longer than a window \\(1024 tokens\\)"),
    ("sideways", None, None, "Unknown --long-text 'sideways'"),
])
def test_a_reading_that_would_be_ignored_or_cut_short_is_refused(long_text, head, stride, message):
    with pytest.raises(InputError, match=message):
        check_reading(long_text, head, stride, budget=1024)


def test_the_readings_that_are_kept_read_what_they_promise():
    check_reading("head_tail", 1023, None, budget=1024)
    check_reading("windows", None, 1024, budget=1024)
    assert reading_spans(2000, 1024, "head_tail", head_tokens=1023) == [[(0, 1023), (1999, 2000)]]
