"""What a user can fix: `SentimentError` and its kinds.

The library raises one of these where it detects the problem, with a message naming the bad
value and the fix. The command line turns only these into one line on stderr and exit status 2,
the API into a 4xx (`http_status`), a page into `st.error`. Any other exception is a bug: a
traceback on the command line, a 500 with a request id in the API.

`SentimentError` is a `ValueError`, so code that catches bad input as ValueError keeps working.
"""

from __future__ import annotations


class SentimentError(ValueError):
    """Something the user can fix; the message says what and how."""

    http_status = 422


class InputError(SentimentError):
    """A bad argument, option or text (an unknown method, a negative step count, an empty review)."""


class SettingsError(SentimentError):
    """A setting read from the environment or `.env` is invalid; the message names the variable."""


class DataSourceError(SentimentError):
    """The IMDB source cannot be read; the message names the source, the problem and the fix."""

    DEFAULT_FIX = ("Set IMDB_DATA (or pass --data) to a hub id, a folder of parquet files (train.parquet, "
                   "test.parquet), an aclImdb folder or a CSV with review/sentiment columns.")

    def __init__(self, source: str, problem: str, fix: str | None = None):
        self.source, self.problem, self.fix = source, problem, fix or self.DEFAULT_FIX
        super().__init__(f"Cannot load IMDB data from {source!r}: {problem} {self.fix}")


class RunError(SentimentError):
    """A run id or run directory problem (taken, unfinished, corrupted, not running), with what to do."""

    http_status = 409


class RunNotFoundError(RunError):
    """No run (or comparison) of that name."""

    http_status = 404


class ComparisonError(RunError):
    """A loss comparison that cannot be planned, resumed or read."""


class ModelSourceError(SentimentError):
    """A model source (run id, folder, hub id) that cannot be loaded, or loaded safely."""

    http_status = 409


class LabelMappingError(ModelSourceError):
    """A model's classes cannot be mapped onto negative/positive as given (or guessed): a --labels problem."""

    http_status = 422


class LimitError(SentimentError):
    """Over a limit (texts per request, characters, body size, file size); the message names the setting."""

    http_status = 413


class UnsupportedFormatError(SentimentError):
    """A content type or file format this code does not read or write."""

    http_status = 415


class BusyError(SentimentError):
    """The server is at capacity for this kind of work; try again after `retry_after` seconds."""

    http_status = 503

    def __init__(self, message: str, retry_after: float = 1.0):
        super().__init__(message)
        self.retry_after = retry_after


class TimeLimitError(SentimentError):
    """The work took longer than its limit and was stopped; the message names the setting."""

    http_status = 504
