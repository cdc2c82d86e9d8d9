"""Every ```python block in docs/ and examples/*.md runs as written.

A block that cannot run here (it names a real AWS region without an emulator, say)
is preceded by the line ``<!-- notest -->``.  Each block runs in its own
interpreter from the repository root, so it must be complete on its own.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests._support import ROOT

FENCE = re.compile(r"(<!-- notest -->\s*\n)?```python\n(.*?)```", re.DOTALL)


def _blocks() -> list[pytest.ParameterSet]:
    params = []
    for path in sorted(
        [*ROOT.glob("docs/**/*.md"), *ROOT.glob("examples/*.md"), ROOT / "README.md"]
    ):
        text = path.read_text(encoding="utf-8")
        for number, match in enumerate(FENCE.finditer(text), start=1):
            if match.group(1):
                continue
            line = text.count("\n", 0, match.start()) + 1
            params.append(pytest.param(match.group(2), id=f"{path.name}:{line}#{number}"))
    return params


@pytest.mark.parametrize("code", _blocks())
def test_doc_example_runs(code: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
