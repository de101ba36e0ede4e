"""The documentation and the code agree: the CLI reference lists every flag of every command (both ways), the
settings reference names every setting, every relative link points to a file, and the README stays a short door."""

import argparse
import re
from pathlib import Path

from sentiment_core.cli import build_parser
from sentiment_core.core.settings import Settings, env_name
from tests.conftest import REPO_ROOT

DOCS = REPO_ROOT / "docs"
README = REPO_ROOT / "README.md"
README_MAX_LINES = 260
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:, ...


def _commands(parser: argparse.ArgumentParser, prefix=()) -> dict[str, set[str]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return {" ".join(prefix): {o for a in parser._actions for o in a.option_strings if o not in ("-h", "--help")}}
    found = {}
    for name, sub in subs[0].choices.items():
        found.update(_commands(sub, (*prefix, name)))
    return found


def _documented_flags() -> dict[str, set[str]]:
    """Flags docs/cli.md's "Every command and every flag" block lists for each command (continuation lines included)."""
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    block = text.split("## Every command and every flag", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    flags: dict[str, set[str]] = {}
    command = None
    for line in block.splitlines():
        match = re.match(r"python -m sentiment_core ([a-z-]+)(?: ([a-z]+))?", line)
        if match:
            command = match.group(1)
            for sub in ("info",) if command == "data" else ():
                command = f"data {sub}"
        if command:
            flags.setdefault(command, set()).update(re.findall(r"--[a-z][a-z-]*", line.split("#")[0]))
    return flags


def test_the_cli_reference_lists_every_flag_of_every_command():
    parsed = _commands(build_parser())
    documented = _documented_flags()
    for command, flags in parsed.items():
        key = command.split()[0] if command.startswith("runs") else command
        if key == "runs":
            continue  # runs list | stop RUN | delete RUN take no flags
        assert key in documented, f"docs/cli.md lists no `{key}` command"
        assert documented[key] == flags, (key, sorted(flags - documented[key]), sorted(documented[key] - flags))
    commands = {command.split()[0] if command.startswith("runs") else command for command in parsed}
    assert set(documented) <= commands, ("docs/cli.md lists commands the CLI lacks: "
                                         f"{sorted(set(documented) - commands)}")


def test_the_settings_reference_names_every_setting():
    text = (DOCS / "settings.md").read_text(encoding="utf-8")
    missing = [env_name(field) for field in Settings.model_fields if f"`{env_name(field)}`" not in text]
    assert not missing, f"docs/settings.md does not name {missing}"


def test_the_readme_is_a_short_door():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; the manual belongs in docs/"


def _prose(text: str) -> str:
    """Markdown without its fenced code blocks and inline code, where brackets are not links."""
    text = re.sub(r"^(```|~~~).*?^\1", "", text, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"`[^`\n]*`", "", text)


def _relative_links(path: Path) -> list[str]:
    targets = LINK.findall(_prose(path.read_text(encoding="utf-8")))
    return [target for target in targets if not EXTERNAL.match(target) and not target.startswith("#")]


def test_every_relative_link_points_to_a_file():
    pages = [README, *sorted(DOCS.glob("**/*.md"))]
    broken = []
    for page in pages:
        for target in _relative_links(page):
            if not (page.parent / target.split("#", 1)[0]).exists():
                broken.append(f"{page.relative_to(REPO_ROOT)}: {target}")
    assert not broken, broken
    assert _relative_links(README), "the README links into docs/"


def test_the_link_check_sees_links_and_skips_code(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("[a](a.md#x) ![b](img/b.png) [c](https://example.org) [d](#here) `[e](e.md)`\n"
                    "```bash\n[--seed] [f](f.md)\n```\n", encoding="utf-8")
    assert _relative_links(page) == ["a.md#x", "img/b.png"]


def test_every_docs_page_is_in_the_site_navigation():
    nav = (REPO_ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    missing = [page.name for page in sorted(DOCS.glob("*.md")) if not re.search(rf":\s*{re.escape(page.name)}\s*$", nav,
                                                                                re.MULTILINE)]
    assert not missing, f"mkdocs.yml's nav lacks {missing}"
