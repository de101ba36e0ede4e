"""The README's command list and the command line agree: every flag of every command, both ways."""

import argparse
import re

from sentiment_core.cli import build_parser
from tests.conftest import REPO_ROOT


def _commands(parser: argparse.ArgumentParser, prefix=()) -> dict[str, set[str]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return {" ".join(prefix): {o for a in parser._actions for o in a.option_strings if o not in ("-h", "--help")}}
    found = {}
    for name, sub in subs[0].choices.items():
        found.update(_commands(sub, (*prefix, name)))
    return found


def _readme_flags() -> dict[str, set[str]]:
    """Flags the README's "Command line" block lists for each command (continuation lines included)."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## Command line", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
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


def test_the_readme_lists_every_flag_of_every_command():
    parsed = _commands(build_parser())
    documented = _readme_flags()
    for command, flags in parsed.items():
        key = command.split()[0] if command.startswith("runs") else command
        if key == "runs":
            continue  # runs list | stop RUN | delete RUN take no flags
        assert key in documented, f"the README lists no `{key}` command"
        assert documented[key] == flags, (key, sorted(flags - documented[key]), sorted(documented[key] - flags))
