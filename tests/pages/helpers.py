"""What the AppTest page tests share: run a page with query parameters or session state, read its text."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT

APP = str(REPO_ROOT / "app.py")


def page_path(name: str) -> str:
    return str(REPO_ROOT / "views" / f"{name}.py")


def run_page(path: str, query: dict | None = None, session: dict | None = None, timeout: float = 120) -> AppTest:
    """Run the script at `path` once, with these query parameters and session state; no exception allowed."""
    app = AppTest.from_file(path, default_timeout=timeout)
    for key, value in (query or {}).items():
        app.query_params[key] = value
    for key, value in (session or {}).items():
        app.session_state[key] = value
    app.run()
    assert not app.exception, app.exception
    return app


def page_text(app: AppTest) -> str:
    """Every markdown, caption and message on the page, as one string."""
    return " ".join(str(m.value)
                    for m in [*app.markdown, *app.caption, *app.info, *app.success, *app.error, *app.warning])
