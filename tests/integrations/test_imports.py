"""The frameworks stay out of ``import asyncsagemaker`` and of ``asyncsagemaker.integrations``.

Each is loaded only by its own module (``integrations.langchain``, ``.strands``,
``.litellm``), so the base install never needs them and an application pays for a
framework only when it uses it.  Checked in a fresh interpreter, where nothing else
has imported them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests._support import ROOT

FRAMEWORKS = (
    "langchain_core",
    "langchain_tests",
    "strands",
    "litellm",
    "openai",
    "pydantic",
    "ray",
)

_LOADED = """
import json, sys
import {module}
print(json.dumps(sorted(name for name in {frameworks} if name in sys.modules)))
"""


def loaded_after(module: str) -> list[str]:
    code = _LOADED.format(module=module, frameworks=FRAMEWORKS)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout.splitlines()[-1])
    return loaded


@pytest.mark.parametrize("module", ["asyncsagemaker", "asyncsagemaker.integrations"])
def test_no_framework_is_loaded_by_the_package_or_the_integrations_parent(module: str) -> None:
    assert loaded_after(module) == []


@pytest.mark.parametrize(
    ("module", "framework"),
    [
        ("asyncsagemaker.integrations.langchain", "langchain_core"),
        ("asyncsagemaker.integrations.strands", "strands"),
        ("asyncsagemaker.integrations.litellm", "litellm"),
    ],
)
def test_each_integration_loads_its_own_framework_only(module: str, framework: str) -> None:
    """The check sees a framework when it is there (it is not vacuous), and no other."""
    others = {"langchain_core", "strands", "litellm"} - {framework}
    loaded = loaded_after(module)
    assert framework in loaded
    assert others.isdisjoint(loaded), loaded
