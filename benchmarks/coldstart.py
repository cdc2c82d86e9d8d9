"""Cold start: a fresh process's first part, against the floor and the peers, phase by phase.

Run:  .venv/bin/python benchmarks/coldstart.py                 (about 10 minutes with valgrind)
      .venv/bin/python benchmarks/coldstart.py --runs 3 --no-instructions   (wall only, quick)
      .venv/bin/python benchmarks/coldstart.py --before PATH    (also a checkout at PATH)

Many users pay the first call, not the thousandth: a command from a shell, a Lambda
function, a batch worker or Ray actor starting, a test process.  Each row here is a
fresh Python process that imports a client, builds it, makes one one-part streaming
call to a loopback server (``benchmarks/_server.py``, endpoint ``first``) and exits.
Phases:

* **import**: the client's modules imported and the client object made;
* **ready**: what the client resolves before a call (``async with`` for ours;
  aiobotocore's ``create_client``; the floor's signed request and session);
* **first part**: the answer's first part received (for the floor: its first bytes);
* **exit**: the process gone (interpreter teardown included).

The **floor** is what the design itself costs: import aiohttp and botocore's
``SigV4Auth``, sign one request, send it with aiohttp, read, exit.  Instructions are
counted with valgrind's callgrind (repeatable on a busy machine): a run per phase
that stops there (``os._exit``) and a whole run; wall times are medians of runs
interleaved across the rows (noisy on a shared machine; the ratios matter).

Every row imports compiled bytecode, as an installed package does (pip compiles it
at install; a checkout writes it at its first run): the children keep their
``.pyc`` files under one temporary ``PYTHONPYCACHEPREFIX``, written by an untimed
warm-up run of each row, so the checkouts measured are never written to.
``--no-bytecode`` measures as a first run after a fresh checkout instead: no
``.pyc`` is written, and a checkout without ``__pycache__`` folders is compiled
from source in every run (about 190 M instructions for what a first call of ours
imports), while installed packages keep theirs.

The command line's first token is measured too: ``asyncsagemaker invoke ... --stream``
to its first byte on stdout, against the AWS CLI v1 (``aws sagemaker-runtime
invoke-endpoint``, its nearest: v1 has no command for event streams; when ``aws`` is
installed) and a boto3 script.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REGION = "us-east-1"
AKID, SECRET = "AKIDCOLDSTART", "coldstart-secret"
PHASES = ("import", "ready", "first part", "exit")

# Each program prints "PHASE <name> <perf_counter>" as it passes a phase; with
# UNTIL set to a phase it leaves right there (os._exit: no teardown counted).
_PRELUDE = """
import os, sys, time
URL, UNTIL = sys.argv[1], sys.argv[2]
def phase(name):
    print("PHASE", name, time.perf_counter(), flush=True)
    if name == UNTIL:
        os._exit(0)
"""

PROGRAMS = {
    "floor": _PRELUDE
    + """
import asyncio
import aiohttp
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
phase("import")
async def main():
    url = URL + "/endpoints/first/invocations-response-stream"
    request = AWSRequest("POST", url, data=b"{}", headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials("%(akid)s", "%(secret)s"), "sagemaker", "%(region)s").add_auth(request)
    async with aiohttp.ClientSession() as session:
        phase("ready")
        async with session.post(url, data=b"{}", headers=dict(request.headers)) as response:
            assert response.status == 200, response.status
            assert await response.content.readany()
            phase("first part")
asyncio.run(main())
""",
    "asyncsagemaker": _PRELUDE
    + """
import asyncio
from asyncsagemaker import SageMakerRuntime
client = SageMakerRuntime(
    "%(region)s", endpoint_url=URL,
    aws_access_key_id="%(akid)s", aws_secret_access_key="%(secret)s",
)
phase("import")
async def main():
    async with client:
        phase("ready")
        async with client.invoke_endpoint_with_response_stream("first", body=b"{}") as stream:
            async for part in stream:
                assert part == b"first"
                break
            phase("first part")
asyncio.run(main())
""",
    "aiobotocore": _PRELUDE
    + """
import asyncio
from aiobotocore.session import get_session
session = get_session()
phase("import")
async def main():
    async with session.create_client(
        "sagemaker-runtime", region_name="%(region)s", endpoint_url=URL,
        aws_access_key_id="%(akid)s", aws_secret_access_key="%(secret)s",
    ) as client:
        phase("ready")
        answer = await client.invoke_endpoint_with_response_stream(EndpointName="first", Body=b"{}")
        async for event in answer["Body"]:
            assert event["PayloadPart"]["Bytes"] == b"first"
            break
        phase("first part")
asyncio.run(main())
""",
    "boto3 (no asyncio)": _PRELUDE
    + """
import boto3
phase("import")
client = boto3.client(
    "sagemaker-runtime", region_name="%(region)s", endpoint_url=URL,
    aws_access_key_id="%(akid)s", aws_secret_access_key="%(secret)s",
)
phase("ready")
answer = client.invoke_endpoint_with_response_stream(EndpointName="first", Body=b"{}")
for event in answer["Body"]:
    assert event["PayloadPart"]["Bytes"] == b"first"
    break
phase("first part")
""",
    "python -c pass": _PRELUDE + "\nphase('import')\nphase('ready')\nphase('first part')\n",
}
FLOOR = "floor"
OURS = "asyncsagemaker"


#: Where the children keep their bytecode (None: ``--no-bytecode``); set by main().
PYCACHE: Path | None = None


def _program(name: str) -> str:
    return PROGRAMS[name] % {"akid": AKID, "secret": SECRET, "region": REGION}


def _env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_CA_BUNDLE"):
        env.pop(name, None)
    env.update(
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_ACCESS_KEY_ID=AKID,
        AWS_SECRET_ACCESS_KEY=SECRET,
        AWS_DEFAULT_REGION=REGION,
        PYTHONHASHSEED="0",
    )
    if PYCACHE is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:  # (a PYTHONDONTWRITEBYTECODE inherited would leave the prefix empty)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    return env


@contextmanager
def running_server() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "_server.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"benchmark server did not start: {line!r}")
        yield f"http://127.0.0.1:{line.split()[1]}"
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wall_run(name: str, url: str, root: Path) -> dict[str, float]:
    """One fresh process: seconds from its start to each phase, and to its exit."""
    started = time.perf_counter()  # CLOCK_MONOTONIC: the same clock in the child
    proc = subprocess.run(
        [sys.executable, "-c", _program(name), url, "-"],
        capture_output=True,
        text=True,
        env=_env(root),
        cwd=root,  # a child's sys.path starts with its directory: the checkout measured
        timeout=120,
        check=False,
    )
    ended = time.perf_counter()
    if proc.returncode:
        raise RuntimeError(f"{name} failed:\n{proc.stderr}")
    times = {
        " ".join(parts[1:-1]): float(parts[-1]) - started
        for parts in (line.split() for line in proc.stdout.splitlines())
        if parts and parts[0] == "PHASE"
    }
    times["exit"] = ended - started
    return times


def instructions(name: str, url: str, root: Path, until: str) -> int:
    """Instructions of the whole process (``until="exit"``) or up to a phase."""
    with tempfile.NamedTemporaryFile(prefix="callgrind-") as out:
        command = [
            "valgrind", "--tool=callgrind", f"--callgrind-out-file={out.name}",
            sys.executable, "-c", _program(name), url, "-" if until == "exit" else until,
        ]  # fmt: skip
        proc = subprocess.run(
            command, capture_output=True, text=True, env=_env(root), cwd=root, timeout=900,
            check=False,
        )  # fmt: skip
        if proc.returncode:
            raise RuntimeError(f"{name} under callgrind failed:\n{proc.stderr[-2000:]}")
        for line in Path(out.name).read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError(f"no callgrind totals for {name}")


# --- the command line's first token ---------------------------------------------------


def _cli_commands(url: str) -> dict[str, list[str]]:
    body = '{"inputs": "hi"}'
    ours = [sys.executable, "-m", "asyncsagemaker", "invoke", "first", "--stream",
            "--endpoint-url", url, "--region", REGION, "--body", body]  # fmt: skip
    script = (
        "import boto3, sys\n"
        "c = boto3.client('sagemaker-runtime', endpoint_url=sys.argv[1])\n"
        "r = c.invoke_endpoint_with_response_stream(EndpointName='first', Body=sys.argv[2])\n"
        "for e in r['Body']:\n"
        "    sys.stdout.buffer.write(e['PayloadPart']['Bytes']); sys.stdout.flush()\n"
    )
    commands = {
        "asyncsagemaker invoke --stream": ours,
        "boto3 script": [sys.executable, "-c", script, url, body],
    }
    aws = shutil.which("aws")
    if aws:
        # The AWS CLI v1 has no invoke-endpoint-with-response-stream (no event streams):
        # its nearest is the whole-answer call.
        commands["aws CLI v1 invoke-endpoint (whole)"] = [
            aws, "sagemaker-runtime", "invoke-endpoint",
            "--endpoint-name", "first", "--body", body, "--endpoint-url", url,
            "/dev/stdout",
        ]  # fmt: skip
    return commands


def first_byte(command: list[str], root: Path) -> float:
    """Seconds from starting ``command`` to its first byte on standard output."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(root), cwd=root
    )
    assert proc.stdout is not None
    got = proc.stdout.read(1)
    elapsed = time.perf_counter() - started
    proc.stdout.read()
    _, err = proc.communicate(timeout=60)
    if not got or proc.returncode:
        raise RuntimeError(f"{command[:3]} printed nothing (exit {proc.returncode}):\n{err!r}")
    return elapsed


# --- tables -------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def print_phases(label: str, wall: dict[str, list[float]], counted: dict[str, int]) -> None:
    floor_wall = WALL_MEDIANS.get(FLOOR, {})
    print(f"\n{label}")
    for phase in PHASES:
        median = statistics.median(wall[phase]) if wall.get(phase) else None
        count = counted.get(phase)
        floor_count = COUNTED.get(FLOOR, {}).get(phase)
        cells = [f"  {phase:11s}"]
        cells.append(f"{count / 1e6:>9,.0f} M instr" if count else f"{'':>15s}")
        cells.append(f" ({count / floor_count:.2f}x floor)" if count and floor_count else "")
        if median is not None:
            cells.append(f"   wall {_ms(median):>8s}")
            if floor_wall.get(phase):
                cells.append(f" ({median / floor_wall[phase]:.2f}x)")
        print("".join(cells))


WALL_MEDIANS: dict[str, dict[str, float]] = {}
COUNTED: dict[str, dict[str, int]] = {}


def main() -> None:
    global PYCACHE
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="wall runs per row (default 5)")
    parser.add_argument("--no-instructions", action="store_true", help="skip callgrind")
    parser.add_argument("--before", type=Path, help="also measure this checkout's client")
    parser.add_argument("--rows", help=f"comma-separated subset of {', '.join(PROGRAMS)}")
    parser.add_argument(
        "--no-bytecode",
        action="store_true",
        help="write no .pyc: a checkout without __pycache__ is compiled in every run",
    )
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        if not args.no_bytecode:
            PYCACHE = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pycache-")))
        measure(args)


def measure(args: argparse.Namespace) -> None:
    """Every row, then the command lines, as ``args`` say."""
    rows: list[tuple[str, str, Path]] = [
        (name, name, ROOT) for name in (args.rows.split(",") if args.rows else PROGRAMS)
    ]
    if args.before:
        rows.insert(2, (f"{OURS} @ {args.before.name}", OURS, args.before.resolve()))
    with running_server() as url:
        for _, program, root in rows:  # a warm-up: the disk cache, .pyc files
            wall_run(program, url, root)
        wall: dict[str, dict[str, list[float]]] = {label: {} for label, _, _ in rows}
        for _ in range(args.runs):  # interleaved rounds
            for label, program, root in rows:
                for phase, seconds in wall_run(program, url, root).items():
                    wall[label].setdefault(phase, []).append(seconds)
        for label in wall:
            WALL_MEDIANS[label] = {p: statistics.median(v) for p, v in wall[label].items()}
        if not args.no_instructions and shutil.which("valgrind"):
            for label, program, root in rows:
                phases = PHASES if program in (FLOOR, OURS) else ("first part", "exit")
                COUNTED[label] = {p: instructions(program, url, root, p) for p in phases}
                print(f"counted {label}", flush=True)
        print(f"\nA fresh process, one one-part call ({args.runs} interleaved runs; "
              "instructions by callgrind, cumulative at each phase)")  # fmt: skip
        for label, _, _ in rows:
            print_phases(label, wall[label], COUNTED.get(label, {}))
        print("\nThe command line's first token (first byte on stdout; median of "
              f"{args.runs})")  # fmt: skip
        commands = _cli_commands(url)
        for command in commands.values():  # a warm-up: the .pyc files of the commands
            first_byte(command, ROOT)
        times: dict[str, list[float]] = {label: [] for label in commands}
        for _ in range(args.runs):
            for label, command in commands.items():
                times[label].append(first_byte(command, ROOT))
        ours = statistics.median(times["asyncsagemaker invoke --stream"])
        for label, found in times.items():
            median = statistics.median(found)
            print(f"  {label:34s} {_ms(median):>8s}  ({median / ours:.2f}x ours)")
    print(json.dumps({"wall": WALL_MEDIANS, "instructions": COUNTED}), file=sys.stderr)


if __name__ == "__main__":
    main()
