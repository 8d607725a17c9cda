"""Size and speed of the agent-facing rendering on every bundled real recording.

Run: `python benchmarks/render_bench.py` (add `--repeat N` for more timing runs, `--markdown` for the README table).

For each response body in mavi_mcp/sandbox/data (the real recordings, as MAVI sends them) it measures, for the
default text rendering of the WHOLE transcript (every page at the default budget, headers and footers included):

- overhead: characters of the rendering / characters of the transcript's words joined by single spaces (the
  floor nothing lossless can beat). Not defined for speaker turns without words.
- vs raw: characters of the raw MAVI JSON (compact, as the API sends it) / characters of the rendering.
- max gap: the longest stretch of audio between two consecutive timestamps in the rendering (seconds), from
  the words' (or segments') times, which the goal bounds at 30 s.
- time: parse + normalize + render all pages, vs `json.loads` of the same body: CPU time of the process, the two
  alternating, medians of the same run; the ratio is the median of the per-pair ratios.
- peak memory of parse + normalize + render for the largest body (tracemalloc).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import re
import statistics
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mavi_mcp.render.cursor import decode_cursor
from mavi_mcp.render.page import render_page
from mavi_mcp.render.view import View
from mavi_mcp.shapes import SHAPES
from mavi_mcp.transcript import Transcript

DATA = Path(__file__).resolve().parent.parent / "mavi_mcp" / "sandbox" / "data"
PAGE_TOKENS = 6000
FOLDERS = tuple(name for name in SHAPES if (DATA / name).is_dir())
"""Every registry shape with bundled recordings (the data folders are named after the shapes)."""


def parse(folder: str, body: bytes) -> Transcript:
    return SHAPES[folder].normalize_body(body)


def render_all(transcript: Transcript) -> list[str]:
    pages: list[str] = []
    position = None
    page = 1
    while True:
        rendered = render_page(transcript, names={}, view=View(), position=position, page=page, max_tokens=PAGE_TOKENS)
        pages.append(rendered.text)
        if rendered.next_cursor is None:
            return pages
        position = decode_cursor(rendered.next_cursor, transcript.id).position
        page += 1


_STAMP = re.compile(r"\[(\d+(?::\d\d){1,2})\]")


def _seconds(clock: str) -> int:
    total = 0
    for part in clock.split(":"):
        total = total * 60 + int(part)
    return total


def max_gap(transcript: Transcript, pages: list[str]) -> float | None:
    """Longest audio stretch (s) without a timestamp: from each anchor to the end of speech before the next."""
    if transcript.kind != "transcript":
        return None
    stamps = sorted({_seconds(m) for page in pages for m in _STAMP.findall(page)})
    if not stamps:
        return None
    ends: list[tuple[float, float]] = []  # (start, end) of every timed unit: words if aligned, else segments
    for segment in transcript.segments:
        tokens = segment.text.split()
        if segment.words and len(segment.words) == len(tokens):
            ends.extend((w[1], w[2]) for w in segment.words)  # words are (text, start, end, confidence)
        elif tokens:
            ends.append((segment.start, segment.end))
    worst = 0.0
    import bisect

    for start, end in ends:
        i = bisect.bisect_right(stamps, start + 1e-6) - 1  # the last anchor at or before this unit (floored)
        anchor = stamps[max(i, 0)]
        worst = max(worst, end - anchor)
    return worst


def words_floor(transcript: Transcript) -> int:
    return len(" ".join(" ".join(s.text.split()) for s in transcript.segments if s.text.strip()))


def paired_times(base: Callable[[], Any], ours: Callable[[], Any], repeat: int) -> tuple[float, float, float]:
    """`base` and `ours` run alternately `repeat` times each (CPU time of this process, so the machine's other load
    counts less): their medians (s) and the median of the per-pair ratios ours / base."""
    base_times: list[float] = []
    our_times: list[float] = []
    for _ in range(repeat):
        for fn, times in ((base, base_times), (ours, our_times)):
            gc.collect()
            started = time.process_time()
            fn()
            times.append(time.process_time() - started)
    ratios = [o / b for o, b in zip(our_times, base_times, strict=True) if b > 0]
    return statistics.median(base_times), statistics.median(our_times), statistics.median(ratios or [math.inf])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()

    rows: list[dict[str, Any]] = []
    largest: tuple[int, str, bytes] | None = None
    for folder in FOLDERS:
        for path in sorted((DATA / folder).glob("*.json")):
            raw = json.dumps(json.loads(path.read_bytes()), separators=(",", ":"), ensure_ascii=False).encode()
            transcript = parse(folder, raw)
            pages = render_all(transcript)
            rendered = sum(len(p) for p in pages)
            floor = words_floor(transcript)
            t_json, t_ours, ratio = paired_times(
                lambda raw=raw: json.loads(raw),
                lambda raw=raw, folder=folder: render_all(parse(folder, raw)),
                args.repeat,
            )
            gap = max_gap(transcript, pages)
            rows.append(
                {
                    "body": f"{folder}/{path.stem}",
                    "raw_chars": len(raw.decode()),
                    "pages": len(pages),
                    "rendered_chars": rendered,
                    "overhead": rendered / floor if floor else None,
                    "vs_raw": len(raw.decode()) / rendered,
                    "max_gap_s": gap,
                    "json_loads_ms": t_json * 1000,
                    "ours_ms": t_ours * 1000,
                    "time_ratio": ratio,
                }
            )
            if largest is None or len(raw) > largest[0]:
                largest = (len(raw), folder, raw)

    assert largest is not None
    _, folder, raw = largest
    gc.collect()
    tracemalloc.start()
    render_all(parse(folder, raw))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    tracemalloc.start()
    json.loads(raw)
    _, peak_json = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    def fmt(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    header = [
        "body",
        "raw chars",
        "pages",
        "rendered",
        "overhead",
        "vs raw",
        "max gap s",
        "json.loads ms",
        "ours ms",
        "ratio",
    ]
    lines = []
    for r in rows:
        lines.append(
            [
                r["body"],
                str(r["raw_chars"]),
                str(r["pages"]),
                str(r["rendered_chars"]),
                fmt(r["overhead"], ".3f"),
                fmt(r["vs_raw"], ".1f"),
                fmt(r["max_gap_s"], ".1f"),
                fmt(r["json_loads_ms"], ".1f"),
                fmt(r["ours_ms"], ".1f"),
                fmt(r["time_ratio"], ".2f"),
            ]
        )
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for line in lines:
            print("| " + " | ".join(line) + " |")
    else:
        widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
        print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        for line in lines:
            print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)))
    print(
        f"\npeak memory, parse+normalize+render of the largest body ({folder}, {len(raw) / 1e6:.1f} MB): "
        f"{peak / 1e6:.1f} MB (json.loads alone: {peak_json / 1e6:.1f} MB)"
    )


if __name__ == "__main__":
    main()
