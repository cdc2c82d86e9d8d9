"""The command line, run as a user runs it: a real process against the emulator."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from asyncsagemaker import __version__
from asyncsagemaker.emulator import Emulator, Faults, run_in_thread
from tests._support import SIGINT_INHERITED, needs_model_member, sigint_for_children

KEY, SECRET = "AKIDCLITEST", "cli-secret"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    faults = {
        "broken": Faults(stream_error_after=2, stream_error_code="StreamBroken"),
        "stalled": Faults(stall_seconds=5, stall_after=1),
    }
    models = {"demo": "demo", "echo": "echo", "broken": "demo", "stalled": "demo"}
    with run_in_thread(
        Emulator(models=models, credentials={KEY: SECRET}, faults=faults, token_delay=0.001)
    ) as emu:
        yield emu


def cli_environment(credentials: bool = True) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    if credentials:
        env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = KEY, SECRET
    return env


def run_cli(
    *args: str, credentials: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = cli_environment(credentials)
    return subprocess.run(
        [sys.executable, "-m", "asyncsagemaker", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        input=stdin,
        check=False,
    )


def invoke(emu: Emulator, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "invoke",
        *args,
        "--endpoint-url",
        emu.url,
        "--region",
        "us-east-1",
        **kwargs,  # type: ignore[arg-type]
    )


def test_version_and_help() -> None:
    assert run_cli("--version").stdout.strip() == f"asyncsagemaker {__version__}"
    helped = run_cli("--help")
    assert helped.returncode == 0
    for command in ("invoke", "emulate", "demo"):
        assert command in helped.stdout


def test_demo_streams_an_answer_and_a_summary() -> None:
    result = run_cli("demo", "--token-delay", "0", credentials=False)
    assert result.returncode == 0, result.stderr
    assert "café" in result.stdout or "🤖" in result.stdout or len(result.stdout.split()) > 5
    assert "time to first token" in result.stderr
    assert "tokens/s" in result.stderr


@pytest.mark.parametrize("fmt", ["tgi", "lmi", "vllm-chat", "vllm-completions", "text"])
def test_invoke_prints_the_tokens_of_each_format(emulator: Emulator, fmt: str) -> None:
    reference = run_cli("demo", "--format", "tgi", "--token-delay", "0", "--prompt", "hi")
    result = run_cli("demo", "--format", fmt, "--token-delay", "0", "--prompt", "hi")
    assert result.returncode == 0, result.stderr
    assert result.stdout == reference.stdout
    assert "data:" not in result.stdout and '{"' not in result.stdout


def test_invoke_tokens_against_the_emulator(emulator: Emulator) -> None:
    body = '{"inputs": "Tell me about Zürich", "parameters": {"max_new_tokens": 12}}'
    result = invoke(emulator, "demo", "--tokens", "--body", body)
    assert result.returncode == 0, result.stderr
    tokens = result.stdout.strip()
    assert len(tokens.split()) == 12  # the special end token after them is skipped
    assert "request id" in result.stderr
    assert emulator.records[-1].request_id in result.stderr


@SIGINT_INHERITED
def test_ctrl_c_ends_a_stream_with_130(emulator: Emulator, sigint_inherited: str) -> None:
    command = [sys.executable, "-m", "asyncsagemaker", "invoke", "stalled", "--stream",
               "--endpoint-url", emulator.url, "--region", "us-east-1"]  # fmt: skip
    with sigint_for_children(sigint_inherited):
        process = subprocess.Popen(
            command, env=cli_environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    try:
        assert process.stdout is not None and process.stdout.read(1)  # the first token, then 5 s
        process.send_signal(signal.SIGINT)
        assert process.wait(10) == 130
        assert process.stderr is not None and "interrupted" in process.stderr.read().decode()
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def test_invoke_without_stream_prints_the_body(emulator: Emulator) -> None:
    result = invoke(emulator, "echo", "--body", "-", "--content-type", "text/plain", stdin="héllo")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "héllo\n"


def test_invoke_stream_of_raw_text(emulator: Emulator, tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "body.txt")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("x" * 200)
    result = invoke(emulator, "echo", "--stream", "--body", f"@{path}")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "x" * 200 + "\n"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("args", "credentials", "code", "error"),
    [
        (["bad_name!"], True, 2, "ParamValidationError"),
        (["echo", "--body", "@/nonexistent/file"], True, 2, "ParamValidationError"),
        (["nowhere"], True, 4, "ValidationError"),
        (["broken", "--tokens"], True, 5, "ModelStreamError"),
        (["stalled", "--stream", "--read-timeout", "0.3"], True, 6, "ReadTimeoutError"),
        (["echo"], False, 3, "CredentialsError"),
    ],
)
def test_each_error_class_is_one_line_and_an_exit_code(
    emulator: Emulator, args: list[str], credentials: bool, code: int, error: str
) -> None:
    result = invoke(emulator, *args, credentials=credentials)
    assert result.returncode == code, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {error}: ")
    assert "Traceback" not in result.stderr


def test_network_error_and_missing_region() -> None:
    down = run_cli(
        "invoke",
        "echo",
        "--endpoint-url",
        f"http://127.0.0.1:{_closed_port()}",
        "--region",
        "us-east-1",
    )
    assert down.returncode == 7
    assert down.stderr.startswith("error: NetworkError: ")
    no_region = run_cli("invoke", "echo")
    assert no_region.returncode == 2
    assert "region" in no_region.stderr


def test_debug_shows_the_traceback(emulator: Emulator) -> None:
    result = run_cli(
        "--debug", "invoke", "nowhere", "--endpoint-url", emulator.url, "--region", "us-east-1"
    )
    assert result.returncode == 4
    assert "Traceback" in result.stderr
    assert "attempt 1/" in result.stderr


def test_error_lines_name_the_class_once_and_keep_the_details(emulator: Emulator) -> None:
    result = invoke(emulator, "nowhere")
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert line.count("ValidationError") == 1
    assert "(HTTP 400)" in line and "request id" in line
    broken = invoke(emulator, "broken", "--tokens")
    (line,) = [line for line in broken.stderr.splitlines() if line.startswith("error:")]
    assert line.count("ModelStreamError") == 1
    assert "[error code StreamBroken]" in line


def test_hints_speak_the_command_line_not_the_library(emulator: Emulator) -> None:
    no_region = run_cli("invoke", "echo", "--endpoint-url", emulator.url)
    assert "--region" in no_region.stderr
    assert "region_name" not in no_region.stderr
    no_keys = invoke(emulator, "echo", credentials=False)
    assert "--profile" in no_keys.stderr and "AWS_ACCESS_KEY_ID" in no_keys.stderr
    assert "aws_access_key_id" not in no_keys.stderr


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "localhost:8080", "http://"])
def test_an_endpoint_url_without_a_scheme_is_one_clear_line(url: str) -> None:
    result = run_cli("invoke", "echo", "--endpoint-url", url, "--region", "us-east-1")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ConfigurationError: --endpoint-url ")
    assert repr(url) in line and "http://127.0.0.1:8080" in line


def test_an_unknown_token_format_is_refused_before_anything_is_sent(emulator: Emulator) -> None:
    before = len(emulator.records)
    result = invoke(emulator, "demo", "--tokens", "foo")
    assert result.returncode == 2
    assert "invalid choice: 'foo'" in result.stderr
    assert len(emulator.records) == before
    helped = run_cli("invoke", "--help")
    from asyncsagemaker.formats import FORMATS

    for name in ("auto", *FORMATS):
        assert name in helped.stdout
    assert "openai" in helped.stdout


def test_every_routing_option_reaches_the_service(emulator: Emulator) -> None:
    opened = invoke(
        emulator,
        "demo",
        "--target-model",
        "model-a.tar.gz",
        "--session-id",
        "NEW_SESSION",
        "--body",
        '{"inputs": "hi"}',
    )
    assert opened.returncode == 0, opened.stderr
    assert emulator.records[-1].headers["x-amzn-sagemaker-target-model"] == "model-a.tar.gz"
    opened_session = re.search(r"new session (\S+) \(expires (\S+)\)", opened.stderr)
    assert opened_session is not None, opened.stderr  # the id alone, then its expiry
    session = opened_session[1]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", opened_session[2])
    result = invoke(
        emulator,
        "demo",
        "--stream",
        "--inference-component",
        "ic-1",
        "--target-container-hostname",
        "c1",
        "--inference-id",
        "inf-7",
        "--session-id",
        session,
        "--target-variant",
        "AllTraffic",
    )
    assert result.returncode == 0, result.stderr
    headers = emulator.records[-1].headers
    assert headers["x-amzn-sagemaker-inference-component"] == "ic-1"
    assert headers["x-amzn-sagemaker-target-container-hostname"] == "c1"
    assert headers["x-amzn-sagemaker-inference-id"] == "inf-7"
    assert headers["x-amzn-sagemaker-session-id"] == session


def test_token_prints_a_token_the_emulator_accepts(emulator: Emulator) -> None:
    import httpx

    result = run_cli("token", "--region", "us-east-1", "--expires-in", "120")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert token.startswith("sagemaker-api-key-") and result.stdout.count("\n") == 1
    assert token not in result.stderr
    answer = httpx.post(
        emulator.openai_base_url("demo") + "/chat/completions",
        json={"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["token", "--region", "us-east-1", "--expires-in", "43201"], "--expires-in must be 1 to"),
        (["token", "--region", "us-east-1", "--expires-in", "0"], "--expires-in must be 1 to"),
    ],
)
def test_token_refuses_a_lifetime_out_of_range(args: list[str], words: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2 and words in result.stderr and not result.stdout


def test_invoke_on_the_openai_route(emulator: Emulator) -> None:
    body = '{"messages": [{"role": "user", "content": "Tell me about Zürich"}], "max_tokens": 6}'
    streamed = invoke(emulator, "demo", "--route", "openai", "--tokens", "--body", body)
    assert streamed.returncode == 0, streamed.stderr
    whole = invoke(emulator, "demo", "--route", "openai", "--body", body)
    assert whole.returncode == 0, whole.stderr
    assert streamed.stdout == whole.stdout and 'You said "Tell me' in whole.stdout
    assert "finish reason length" in whole.stderr
    assert emulator.records[-1].operation == "ChatCompletions"


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--body", '{"inputs": "hi"}'], "a JSON object with a 'messages' list"),
        (["--body", '{"messages": []}', "--target-variant", "blue"], "no place for target_variant"),
    ],
)
def test_invoke_on_the_openai_route_refuses_before_sending(
    emulator: Emulator, extra: list[str], words: str
) -> None:
    before = len(emulator.records)
    result = invoke(emulator, "demo", "--route", "openai", *extra)
    assert result.returncode == 2 and words in result.stderr
    assert len(emulator.records) == before


def test_demo_on_the_openai_route() -> None:
    result = run_cli("demo", "--route", "openai", "--token-delay", "0", "--prompt", "hi")
    reference = run_cli("demo", "--format", "vllm-chat", "--token-delay", "0", "--prompt", "hi")
    assert result.returncode == 0, result.stderr
    assert result.stdout == reference.stdout and "OpenAI-compatible route" in result.stderr


@needs_model_member("InvokeEndpoint", "PrefixAwareId")
def test_prefix_aware_id_is_an_option_of_invoke(emulator: Emulator) -> None:
    for extra in ([], ["--stream"]):
        result = invoke(emulator, "echo", "--prefix-aware-id", "app-7", *extra, "--body", "hi")
        assert result.returncode == 0, result.stderr
        assert emulator.records[-1].headers["x-amzn-sagemaker-prefix-aware-id"] == "app-7"


#: Loaded by none of ``invoke --stream``'s steps: other commands' and unused layers.
NOT_FOR_INVOKE = (
    "anyio",
    "asyncsagemaker._bidi",
    "asyncsagemaker.batch",
    "asyncsagemaker.cli._batch",
    "asyncsagemaker.cli._duplex",
    "asyncsagemaker.emulator",
    "asyncsagemaker.formats",
    "botocore.session",
    "h2",
)


def _modules_after(emu: Emulator, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``asyncsagemaker invoke ENDPOINT ARGS`` in a child; what it printed and imported."""
    code = (
        "import atexit, json, runpy, sys\n"
        "atexit.register(lambda: sys.stderr.write('MODULES ' + json.dumps(sorted(sys.modules))))\n"
        "sys.argv = ['asyncsagemaker', *sys.argv[1:]]\n"
        "runpy.run_module('asyncsagemaker', run_name='__main__')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "invoke", *args, "--endpoint-url", emu.url,
         "--region", "us-east-1"],
        capture_output=True, text=True, timeout=60, env=cli_environment(), check=False,
    )  # fmt: skip
    err, _, modules = result.stderr.rpartition("MODULES ")
    result.stderr = err
    return result, set(json.loads(modules))


def test_invoke_loads_only_what_it_runs(emulator: Emulator) -> None:
    result, modules = _modules_after(emulator, "echo", "--stream", "--body", '"ping"')
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ping"
    assert sorted(m for m in modules if m.startswith(NOT_FOR_INVOKE)) == []


def test_invoke_with_tokens_loads_the_formats_it_reads_with(emulator: Emulator) -> None:
    result, modules = _modules_after(
        emulator, "demo", "--tokens", "tgi", "--body", '{"inputs": "x"}'
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert "asyncsagemaker.formats" in modules
    assert "asyncsagemaker.emulator" not in modules
