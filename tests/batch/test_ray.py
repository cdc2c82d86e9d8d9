"""The Ray Data integration on a local Ray runtime, against the emulator.

Ray starts worker processes of its own (two CPUs here), and each actor sends its rows
through its own client to the emulator on 127.0.0.1.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from asyncsagemaker.emulator import Emulator
from asyncsagemaker.emulator._demo import demo_answer
from asyncsagemaker.integrations.ray import ANSWER_COLUMNS, EndpointInvoker
from tests._support import ROOT
from tests.batch._support import AKID, SECRET, CountingModel, kind

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install asyncsagemaker[ray])")
pytest.importorskip("ray.data", reason="Ray Data is not installed (ray[data])")

ROWS = 60


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        runtime_env={"env_vars": {"RAY_DATA_DISABLE_PROGRESS_BARS": "1"}},
    )
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        yield ray
    finally:
        ray.shutdown()


def keys(emulator: Emulator, **more: Any) -> dict[str, Any]:
    return {
        "region_name": "us-east-1",
        "endpoint_url": emulator.url,
        "aws_access_key_id": AKID,
        "aws_secret_access_key": SECRET,
        **more,
    }


@pytest.mark.timeout(180)
def test_map_batches_answers_every_row_with_errors_as_columns(
    local_ray: Any, start_emulator: Callable[..., Emulator]
) -> None:
    model = CountingModel(delay=0.01)
    emulator = start_emulator(
        models={"llm": model}, credentials={AKID: SECRET}, max_records=4 * ROWS
    )
    lines = [
        json.dumps({"body": {"inputs": f"{kind(i)} prompt {i}"}, "id": i}) for i in range(ROWS)
    ]
    lines[7] = "{not json"
    ds = local_ray.data.from_items([{"text": line} for line in lines])
    answered = ds.map_batches(
        EndpointInvoker,
        fn_constructor_kwargs={"endpoint": "llm", "concurrency": 4, **keys(emulator)},
        compute=local_ray.data.ActorPoolStrategy(size=2),
        batch_size=10,
    )
    rows = sorted(answered.take_all(), key=lambda row: lines.index(row["text"]))
    assert len(rows) == ROWS
    for index, row in enumerate(rows):
        assert set(ANSWER_COLUMNS) <= set(row)
        if index == 7:
            assert row["error_type"] == "ParamValidationError"
            assert row["error_message"].startswith("not a JSON value")
            assert row["attempts"] == 0
        elif kind(index) == "fail":
            assert row["error_type"] == "ModelError"
            assert "cannot answer" in row["error_message"]
            assert row["request_id"] and row["attempts"] == 1
        else:
            assert row["error_type"] is None and row["error_message"] is None
            assert json.loads(row["output"]) == {"generated_text": f"answer to ok prompt {index}"}
            assert row["request_id"] and row["latency"] > 0
    sent = ROWS - 1
    assert sum(model.seen.values()) == sent  # each row once; the bad one never
    assert 1 < model.most_in_flight <= 2 * 4  # two actors, four each at most


@pytest.mark.timeout(180)
def test_streamed_chat_rows_from_columns(
    local_ray: Any, start_emulator: Callable[..., Emulator]
) -> None:
    emulator = start_emulator(credentials={AKID: SECRET}, token_delay=0)
    items = [
        {"messages": [{"role": "user", "content": f"Question {i}"}], "max_tokens": 4, "n": i}
        for i in range(12)
    ]
    answered = local_ray.data.from_items(items).map_batches(
        EndpointInvoker,
        fn_constructor_kwargs={"endpoint": "demo", "stream": True, **keys(emulator)},
        compute=local_ray.data.ActorPoolStrategy(size=1),
        batch_size=6,
    )
    rows = sorted(answered.take_all(), key=lambda row: row["n"])
    assert [row["n"] for row in rows] == list(range(12))
    for row in rows:
        assert row["error_type"] is None, row["error_message"]
        assert demo_answer(f"Question {row['n']}").startswith(row["output"]) and row["output"]
        assert row["finish_reason"] == "length" and row["completion_tokens"] == 4
        assert 0 < row["time_to_first_token"] <= row["latency"]


def map_batches_keywords(text: str) -> set[str]:
    """The keyword names of every ``map_batches(...)`` call written in ``text``."""
    names: set[str] = set()
    for match in re.finditer(r"map_batches\(", text):
        depth, end = 1, match.end()
        while depth and end < len(text):
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            end += 1
        arguments = text[match.end() : end - 1]
        names |= set(re.findall(r"(?:^|[(,])\s*(\w+)=(?!=)", arguments, re.MULTILINE))
    return names


def test_the_documented_map_batches_calls_use_no_argument_ray_deprecated() -> None:
    """The docs, the module's docstring and these tests call Ray as the installed Ray wants.

    Ray marks a deprecated ``map_batches`` argument in its docstring ("This argument is
    deprecated"); ``concurrency=`` is one since Ray 2.51 (``compute=`` replaces it).
    """
    documented = inspect.getdoc(ray.data.Dataset.map_batches) or ""
    deprecated = set(re.findall(r"^\s*(\w+): This argument is deprecated", documented, re.M))
    assert "concurrency" in deprecated  # the check reads Ray's words as they are
    sources = [
        ROOT / "docs" / "scale-out.md",
        ROOT / "asyncsagemaker" / "integrations" / "ray.py",
        Path(__file__),
    ]
    for source in sources:
        used = map_batches_keywords(source.read_text(encoding="utf-8"))
        assert "compute" in used, source
        assert not used & deprecated, f"{source}: {sorted(used & deprecated)}"
