"""Event-stream decoding speed: asyncsagemaker's Decoder vs botocore's EventStreamBuffer.

Run:  PYTHONPATH=. .venv/bin/python benchmarks/decode.py [--runs 9] [--mib 16]
          [--sizes 16,65536] [--clock cpu]

For each payload size a stream of PayloadPart messages (the headers SageMaker
sends) is fed in 64 KiB chunks to both decoders in the same process, run after
run, interleaved.  Shown are the median events/s and MB/s of each, and the
median over runs of botocore's time / ours for the same stream back to back
(pairing the runs keeps the machine's slow spells out of the ratio).
``zlib.crc32`` over the same bytes is the ceiling: each decoder must checksum
every byte once, and "of crc" is how close ours gets to it.

The fixed-size rows repeat one prelude, which the decoder verifies once per
chunk; the "1-64" row has a payload size drawn per message (like LLM tokens),
so every prelude checksum is computed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import zlib
from collections.abc import Callable

from botocore.eventstream import EventStreamBuffer

from asyncsagemaker.eventstream import Decoder, encode

PAYLOAD_PART = {
    ":event-type": "PayloadPart",
    ":content-type": "application/octet-stream",
    ":message-type": "event",
}
SIZES = ("16", "256", "4096", "65536", "1-64")
CHUNK = 64 * 1024


def make_stream(sizes: str, total_bytes: int) -> tuple[list[bytes], int]:
    """The stream cut in 64 KiB chunks, and its message count."""
    low, _, high = sizes.partition("-")
    if not high:
        message = encode(PAYLOAD_PART, b"x" * int(low))
        count = max(1, total_bytes // len(message))
        data = message * count
    else:
        rng = random.Random(0)
        messages = []
        size = 0
        while size < total_bytes:
            messages.append(encode(PAYLOAD_PART, b"x" * rng.randint(int(low), int(high))))
            size += len(messages[-1])
        count = len(messages)
        data = b"".join(messages)
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)], count


def run_ours(chunks: list[bytes]) -> int:
    decoder = Decoder()
    n = 0
    for chunk in chunks:
        n += len(decoder.feed(chunk))
    decoder.close()
    return n


def run_botocore(chunks: list[bytes]) -> int:
    buffer = EventStreamBuffer()
    n = 0
    for chunk in chunks:
        buffer.add_data(chunk)
        for _message in buffer:
            n += 1
    return n


def run_crc(chunks: list[bytes]) -> int:
    crc = 0
    for chunk in chunks:
        crc = zlib.crc32(chunk, crc)
    return crc


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def timed(
    fn: Callable[[list[bytes]], int], chunks: list[bytes], clock: Callable[[], float]
) -> float:
    start = clock()
    fn(chunks)
    return clock() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="runs per decoder (median is shown)")
    parser.add_argument("--mib", type=float, default=16, help="stream size per run in MiB")
    parser.add_argument(
        "--sizes",
        default=",".join(SIZES),
        help="payload sizes in bytes, comma-separated; LOW-HIGH draws each message's size",
    )
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall time, or this process's CPU time (steadier on a busy machine)",
    )
    args = parser.parse_args()
    clock = CLOCKS[args.clock]
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    total = int(args.mib * 1024 * 1024)

    header = (
        f"{'payload':>8} | {'events':>8} | {'ours ev/s':>11} | {'botocore ev/s':>13} | "
        f"{'ratio':>6} | {'ours MB/s':>9} | {'boto MB/s':>9} | {'crc32 MB/s':>10} | {'of crc':>6}"
    )
    print(
        f"median of {args.runs} runs, {args.mib:g} MiB per run, fed in 64 KiB chunks, "
        f"{args.clock} time"
    )
    print(header)
    print("-" * len(header))
    for sizes in args.sizes.split(","):
        chunks, count = make_stream(sizes, total)
        assert run_ours(chunks) == count == run_botocore(chunks)
        nbytes = sum(map(len, chunks))
        ours, boto, crc = [], [], []
        for _ in range(args.runs):
            ours.append(timed(run_ours, chunks, clock))
            boto.append(timed(run_botocore, chunks, clock))
            crc.append(timed(run_crc, chunks, clock))
        t_ours, t_boto, t_crc = (statistics.median(t) for t in (ours, boto, crc))
        ratio = statistics.median(b / o for b, o in zip(boto, ours, strict=True))
        mb = nbytes / 1e6
        print(
            f"{sizes:>7}B | {count:>8} | {count / t_ours:>11,.0f} | {count / t_boto:>13,.0f} | "
            f"{ratio:>5.1f}x | {mb / t_ours:>9,.0f} | {mb / t_boto:>9,.0f} | "
            f"{mb / t_crc:>10,.0f} | {t_crc / t_ours:>5.0%}"
        )


if __name__ == "__main__":
    main()
