"""Command-line value parsers and option checks shared by the package's programs (`demo`, `lm`)."""

from __future__ import annotations

import argparse
import math

from . import stopping
from .format import MODES


def int_list(s: str) -> list:
    """A comma-separated list of positive integers (argparse names the flag in its message)."""
    try:
        v = [int(x) for x in s.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"a comma-separated list of integers, got {s!r}") from None
    if not v or any(x < 1 for x in v):
        raise argparse.ArgumentTypeError(f"positive integers, got {s!r}")
    return v


def sync_modes(s: str) -> list:
    """A comma-separated list of synchronisation modes (`--sync`)."""
    v = [m.strip() for m in s.split(",") if m.strip()]
    if not v or any(m not in MODES for m in v):
        raise argparse.ArgumentTypeError(f"choose from {', '.join(MODES)} (got {s!r})")
    return v


def precision(s: str) -> float:
    """`--precision`: a percentage (`5%`) or a fraction (`0.05`) above 0 and below 100%."""
    t = s.strip()
    try:
        v = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a precision: give a percentage such as 5% (or a fraction such as 0.05)") from None
    if not (math.isfinite(v) and 0 < v < 1):
        hint = f" ({s.strip()} as a fraction is {100 * v:g}%; did you mean {s.strip()}%?)" if math.isfinite(v) and v >= 1 and not t.endswith("%") else ""
        raise argparse.ArgumentTypeError(f"{s!r}: the precision must be above 0% and below 100%{hint}")
    return v


#: The longest --max-time: a month (as the Rust recorder), far past any useful recording.
MAX_TIME_LIMIT = 30 * 86400.0


def duration(s: str) -> float:
    """`--max-time`: seconds, or a number with `s`, `m` or `h` (`90s`, `10m`, `1h`)."""
    t = s.strip()
    scale = {"s": 1.0, "m": 60.0, "h": 3600.0}.get(t[-1:], None)
    num = t[:-1] if scale else t
    try:
        v = float(num) * (scale or 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a duration: give seconds, or a number with s, m or h (90s, 10m, 1h)") from None
    if not (math.isfinite(v) and 0 < v <= MAX_TIME_LIMIT):
        raise argparse.ArgumentTypeError(f"{s!r}: the time must be above 0 and at most 30 days")
    return v


def check_stopping(p: argparse.ArgumentParser, a) -> None:
    """--runs is an exact count; --precision and --max-time drive a recording without it."""
    if a.runs is not None:
        if not 1 <= a.runs <= stopping.MAX_REPS:
            p.error(f"--runs must be at least 1 and at most {stopping.MAX_REPS}")
        if a.precision is not None or a.max_time is not None:
            p.error("--runs is an exact count: --precision and --max-time apply only without it")


def stop_options(a, elapsed: float, weights) -> dict:
    """:meth:`Recorder.record`'s stopping arguments for the next set: ``runs``, or the precision
    and this set's share of the time left (``weights``: the cost of the sets to go, its own first)."""
    if a.runs is not None:
        return {"runs": a.runs}
    max_time = stopping.DEFAULT_MAX_TIME if a.max_time is None else a.max_time
    return {"precision": a.precision, "max_time": stopping.time_share(elapsed, max_time, weights)}


def add_stopping_arguments(p: argparse.ArgumentParser, shared: str) -> None:
    """--runs, --precision and --max-time, as both CLIs take them; `shared` says how the time is
    shared among the lengths."""
    p.add_argument("--runs", type=int, default=None,
                   help="exactly this many timed repetitions (attributed: rounds) per length and mode, at most 10000 "
                   "(default: until --precision is reached)")
    p.add_argument("--precision", type=precision, default=None, metavar="P",
                   help="repeat until every estimate's 95%% interval is within P of its value (5%% or 0.05): the "
                   "attributed sum, each component of at least 5%% of the forward, the other modes' mean forward; "
                   "at least 3 repetitions, 5 once a slow run was set aside, at each copies level of --check-copies "
                   "(default 5%%, unless --runs)")
    p.add_argument("--max-time", type=duration, default=None, metavar="T",
                   help=f"time for the timed runs (90s, 10m, 1h or seconds), shared among the lengths {shared}; "
                   "a length that runs out says which targets it did not meet (default 10m, unless --runs)")


def add_copies_arguments(p: argparse.ArgumentParser) -> None:
    """--copies and --check-copies, as both CLIs take them."""
    p.add_argument("--copies", type=int, default=4, help="attributed: extra copies of the perturbed component (default 4)")
    p.add_argument("--check-copies", type=int, default=None, metavar="N",
                   help="attributed, precision-driven (without --runs): every other round duplicates with N copies "
                   "instead of --copies, and the report says whether a copy's cost depends on how many there are; "
                   "each component's cost pools both. Default: twice --copies; 0 turns the check off")


def check_copy_options(p: argparse.ArgumentParser, a) -> None:
    """--copies at least 1, --check-copies 0 (off) or more."""
    if a.copies < 1:
        p.error("--copies must be at least 1")
    if a.check_copies is not None and a.check_copies < 0:
        p.error("--check-copies must be at least 0 (0 turns the check off)")
