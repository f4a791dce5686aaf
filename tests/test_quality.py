"""The code stays lint-clean and formatted (ruff), keeps its import layers (import-linter) and is
type-clean (mypy), as the house style asks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("ruff", ["check", "src", "tests", "scripts"]),
        ("ruff", ["format", "--check", "src", "tests", "scripts"]),
        ("lint-imports", []),  # the layer contracts in pyproject.toml
        pytest.param("mypy", [], marks=pytest.mark.real),  # minutes on a busy machine
    ],
)
def test_tool_passes(tool: str, args: list[str]) -> None:
    exe = BIN / tool if (BIN / tool).exists() else shutil.which(tool)
    if exe is None:
        pytest.skip(f"{tool} is not installed (pip install -e '.[dev]')")
    result = subprocess.run(
        [str(exe), *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
