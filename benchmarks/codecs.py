"""Speed of the sans-IO codecs and TokenDecoder, and proof that they stay linear.

Run:  .venv/bin/python benchmarks/codecs.py [--runs 5]

1. Throughput: a TGI SSE stream, an LMI JSON-lines stream and a vLLM chat stream
   of 20,000 tokens each, fed one record per part (what a container flushing
   each token produces), in 64-byte parts (records split across parts) and
   whole; tokens/s and MB/s, median of the runs.
2. Linearity: one long line fed one byte at a time through LineDecoder,
   SSEDecoder and TokenDecoder("auto") at 3 sizes; the time per byte must stay
   flat as the line grows (a decoder that rescans its buffer would grow
   linearly per byte, i.e. quadratically in total).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from asyncsagemaker.codecs import LineDecoder, SSEDecoder
from asyncsagemaker.formats import TokenDecoder

TOKENS = [f" tok{i % 97}é" for i in range(20_000)]


def tgi_stream() -> bytes:
    events = [
        "data:"
        + json.dumps(
            {
                "token": {"id": i, "text": t, "logprob": -0.5, "special": False},
                "generated_text": None,
                "details": None,
            },
            ensure_ascii=False,
        )
        + "\n\n"
        for i, t in enumerate(TOKENS)
    ]
    return "".join(events).encode()


def lmi_stream() -> bytes:
    lines = [
        json.dumps({"token": {"id": i, "text": t, "log_prob": -0.5}}) for i, t in enumerate(TOKENS)
    ]
    return ("\n".join(lines) + "\n").encode()


def chat_stream() -> bytes:
    chunks = [
        "data: "
        + json.dumps(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "demo",
                "choices": [{"index": 0, "delta": {"content": t}, "finish_reason": None}],
            },
            ensure_ascii=False,
        )
        + "\n\n"
        for t in TOKENS
    ]
    return ("".join(chunks) + "data: [DONE]\n\n").encode()


def median_seconds(job: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        job()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def decode_tokens(parts: list[bytes]) -> int:
    decoder = TokenDecoder()
    count = 0
    for part in parts:
        count += len(decoder.feed(part))
    return count + len(decoder.close())


def throughput(runs: int) -> None:
    print("throughput (TokenDecoder, format=auto)")
    for name, make in (("tgi", tgi_stream), ("lmi", lmi_stream), ("vllm-chat", chat_stream)):
        data = make()
        records = data.split(b"\n\n" if name != "lmi" else b"\n")
        per_record = [r + (b"\n\n" if name != "lmi" else b"\n") for r in records if r]
        cases = (
            ("1 record/part", per_record),
            ("64 B parts", [data[i : i + 64] for i in range(0, len(data), 64)]),
            ("whole", [data]),
        )
        for label, parts in cases:
            assert decode_tokens(parts) == len(TOKENS)
            seconds = median_seconds(lambda parts=parts: decode_tokens(parts), runs)
            print(
                f"  {name:<10} {label:<14} {len(TOKENS) / seconds:>12,.0f} tokens/s"
                f" {len(data) / seconds / 1e6:>8.1f} MB/s"
            )


def one_byte_at_a_time(make: Callable[[], Any], data: bytes) -> None:
    decoder = make()
    feed = decoder.feed
    for i in range(len(data)):
        feed(data[i : i + 1])
    decoder.close()


def linearity(runs: int) -> None:
    print("one long line, one byte at a time (time per byte must stay flat)")
    cases: list[tuple[str, Callable[[], Any], Callable[[int], bytes]]] = [
        ("LineDecoder", lambda: LineDecoder(4 << 20), lambda n: b"x" * n + b"\n"),
        ("SSEDecoder", lambda: SSEDecoder(4 << 20), lambda n: b"data: " + b"x" * n + b"\n\n"),
        (
            "TokenDecoder auto",
            TokenDecoder,
            lambda n: b'{"token": {"text": "' + b"x" * n + b'"}}\n',
        ),
    ]
    for name, make, body in cases:
        row = []
        for size in (10_000, 100_000, 1_000_000):
            data = body(size)
            seconds = median_seconds(
                lambda data=data, make=make: one_byte_at_a_time(make, data), runs
            )
            row.append(f"{size:>9,} B: {seconds / len(data) * 1e9:6.0f} ns/B")
        print(f"  {name:<18}" + "  ".join(row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    throughput(args.runs)
    linearity(max(1, args.runs // 2))


if __name__ == "__main__":
    main()
