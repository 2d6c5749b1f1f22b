"""Command-line value parsers shared by the package's programs (`demo`, `lm`)."""

from __future__ import annotations

import argparse

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
