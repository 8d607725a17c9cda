"""Timestamps for agents: whole seconds as `m:ss`, or `h:mm:ss` from the first hour on.

The hour appears only in timestamps that reach it (`59:59`, then `1:00:00`): the number of colons tells the
forms apart, and a recording shorter than an hour never pays for hours.

Parsing accepts seconds (`754.5`) and clock forms (`12:34`, `1:02:03.5`), for the `start`/`end` filters.
"""

from __future__ import annotations

import math


def clock(seconds: float) -> str:
    """`seconds` floored to whole seconds: `m:ss` below an hour, `h:mm:ss` from an hour on."""
    total = max(0, math.floor(seconds))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}:{m:02d}:{s:02d}"
    return f"{m}:{s:02d}"


def clock_tenths(seconds: float) -> str:
    """`seconds` rounded to 0.1 s: `m:ss.s` or `h:mm:ss.s` (`clock` of the whole seconds, then the tenth; written
    out here because a diarization page formats one per turn)."""
    whole, frac = divmod(max(0, round(seconds * 10)), 10)
    m, s = divmod(whole, 60)
    if m >= 60:
        h, m = divmod(m, 60)
        return f"{h}:{m:02d}:{s:02d}.{frac}"
    return f"{m}:{s:02d}.{frac}"


def parse_time(value: str | float | int) -> float:
    """Seconds from `754.5`, `"754.5"`, `"12:34"`, `"12:34.5"` or `"1:02:03"`.

    Raises:
        ValueError: anything else, negative values, or non-finite numbers.
    """
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip()
        parts = text.split(":")
        if not 1 <= len(parts) <= 3 or any(not p.strip() for p in parts):
            raise ValueError(f"{value!r} is not a time; use seconds (754.5) or hh:mm:ss (0:12:34)")
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            raise ValueError(f"{value!r} is not a time; use seconds (754.5) or hh:mm:ss (0:12:34)") from None
        if any(n < 0 for n in numbers) or any(n >= 60 for n in numbers[1:]):
            raise ValueError(f"{value!r} is not a valid clock time (minutes and seconds are 0..59)")
        seconds = 0.0
        for number in numbers:
            seconds = seconds * 60 + number
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{value!r} is not a time (it must be a finite number of seconds >= 0)")
    return seconds
