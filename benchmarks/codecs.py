"""Speed of the sans-IO codecs and TokenDecoder, and proof that they stay linear.

Run:  .venv/bin/python benchmarks/codecs.py [--runs 5]

1. Throughput: a TGI SSE stream, an LMI JSON-lines stream and a vLLM chat stream
   of 20,000 tokens each, fed one record per part (what a container flushing
   each token produces), in 64-byte parts (records split across parts) and
   whole; tokens/s and MB/s, median of the runs.
2. Events against tokens: the same streams (and vLLM completions, plain text)
   decoded with ``feed_events`` (what ``stream.events()`` uses) and with ``feed``
   (``stream.tokens()``); microseconds per token, medians of interleaved runs,
   and their ratio.  Target: events within 1.3x of tokens.  An event keeps its
   parsed record (``raw``) alive where ``feed`` drops it at once, so the rows that
   decode a whole 20,000-token stream in one call also show what holding 20,000
   records costs (memory, garbage collection); streamed parts do not.
3. Linearity: one long line fed one byte at a time through LineDecoder,
   SSEDecoder and TokenDecoder("auto") at 3 sizes; the time per byte must stay
   flat as the line grows (a decoder that rescans its buffer would grow
   linearly per byte, i.e. quadratically in total).
"""

from __future__ import annotations

import argparse
import functools
import gc
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


def openai_stream(kind: str, choice: Callable[[str], dict[str, Any]]) -> bytes:
    """An OpenAI-style SSE stream of ``kind`` objects, one token per chunk, then [DONE]."""
    chunks = [
        "data: "
        + json.dumps(
            {"id": "x-1", "object": kind, "created": 0, "model": "demo", "choices": [choice(t)]},
            ensure_ascii=False,
        )
        + "\n\n"
        for t in TOKENS
    ]
    return ("".join(chunks) + "data: [DONE]\n\n").encode()


def chat_stream() -> bytes:
    return openai_stream(
        "chat.completion.chunk",
        lambda t: {"index": 0, "delta": {"content": t}, "finish_reason": None},
    )


def completions_stream() -> bytes:
    return openai_stream(
        "text_completion",
        lambda t: {"index": 0, "text": t, "logprobs": None, "finish_reason": None},
    )


def text_stream() -> bytes:
    return "".join(TOKENS).encode()


STREAMS: dict[str, tuple[Callable[[], bytes], bytes]] = {
    "tgi": (tgi_stream, b"\n\n"),
    "lmi": (lmi_stream, b"\n"),
    "vllm-chat": (chat_stream, b"\n\n"),
    "vllm-completions": (completions_stream, b"\n\n"),
}


def cases(name: str) -> list[tuple[str, list[bytes]]]:
    """The chunkings of a stream: one record per part, 64-byte parts, whole."""
    if name == "text":
        data = text_stream()
        pieces = [t.encode() for t in TOKENS]  # one token per part, as a container flushes
        return [("1 token/part", pieces), ("whole", [data])]
    make, end = STREAMS[name]
    data = make()
    per_record = [record + end for record in data.split(end) if record]
    return [
        ("1 record/part", per_record),
        ("64 B parts", [data[i : i + 64] for i in range(0, len(data), 64)]),
        ("whole", [data]),
    ]


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


def decode_events(parts: list[bytes]) -> int:
    decoder = TokenDecoder()
    count = 0
    for part in parts:
        count += len(decoder.feed_events(part))
    return count + len(decoder.close_events())


def throughput(runs: int) -> None:
    print("throughput (TokenDecoder, format=auto)")
    for name in ("tgi", "lmi", "vllm-chat"):
        for label, parts in cases(name):
            size = sum(map(len, parts))
            assert decode_tokens(parts) == len(TOKENS)
            seconds = median_seconds(functools.partial(decode_tokens, parts), runs)
            print(
                f"  {name:<10} {label:<14} {len(TOKENS) / seconds:>12,.0f} tokens/s"
                f" {size / seconds / 1e6:>8.1f} MB/s"
            )


def events_against_tokens(runs: int) -> None:
    print(
        "events() against tokens(): microseconds per token, medians of interleaved runs"
        " (target: ratio <= 1.3)"
    )
    print(f"  {'format':<17} {'chunking':<14} {'tokens()':>9} {'events()':>9} {'ratio':>6}")
    worst = 0.0
    for name in (*STREAMS, "text"):
        for label, parts in cases(name):
            # the streams have no special tokens nor endings: one event per token
            assert decode_events(parts) == decode_tokens(parts)
            tokens_times: list[float] = []
            events_times: list[float] = []
            for _ in range(runs):  # interleaved, so that a noisy moment hits both
                for job, times in ((decode_tokens, tokens_times), (decode_events, events_times)):
                    gc.collect()  # each run starts with the same heap
                    start = time.perf_counter()
                    job(parts)
                    times.append(time.perf_counter() - start)
            per_token = 1e6 / len(TOKENS)
            tokens_us = statistics.median(tokens_times) * per_token
            events_us = statistics.median(events_times) * per_token
            ratio = events_us / tokens_us
            worst = max(worst, ratio)
            print(f"  {name:<17} {label:<14} {tokens_us:>9.2f} {events_us:>9.2f} {ratio:>5.2f}x")
    print(f"  worst ratio {worst:.2f}x ({'within' if worst <= 1.3 else 'OVER'} the 1.3x target)")
    print(
        "  (whole: 20,000 records decoded in one call stay alive as event.raw, which costs"
        " memory and garbage collection; parts as they stream do not)"
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
            seconds = median_seconds(functools.partial(one_byte_at_a_time, make, data), runs)
            row.append(f"{size:>9,} B: {seconds / len(data) * 1e9:6.0f} ns/B")
        print(f"  {name:<18}" + "  ".join(row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    throughput(args.runs)
    events_against_tokens(max(args.runs, 15))
    linearity(max(1, args.runs // 2))


if __name__ == "__main__":
    main()
