#!/usr/bin/env python3
"""What a precision-driven recording cost, against a fixed schedule of the same precision.

For each trace and each set in it (one ``frames`` value x variant), counts the timed
repetitions actually recorded (attributed rounds, runs of the other modes) and the forwards they
took, and computes the 95% half-width of the attributed sum relative to the sum with the
recorder's own estimator (``mlx_trace.stopping.SetTracker`` and ``mlx_trace.estimate``: slow runs
set aside, drift removed), once on every timed round and once on the first 3 rounds only (what
the old fixed default of 3 rounds gave). A recording whose rounds alternate two numbers of copies
pools them, as the recorder does; its fixed-schedule reference is the first 3 rounds at the
first number of copies (the rounds a fixed schedule of ``--copies`` runs). Intervals narrow as 1/sqrt(rounds), so a fixed schedule
needs R = ceil(3 * (w3 / w_final)^2) rounds for the final width; with every mode run R times (as
``--runs R`` does) and this recording's runs per round, that is the fixed schedule's cost.

    .venv/bin/python3 scripts/precision_cost.py TRACE.msgpack [TRACE.msgpack ...]

A recording interrupted or still running (``NAME.msgpack.partial``) is read as far as it goes.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections import Counter
from dataclasses import dataclass

_PYTHON = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python")
if os.path.isdir(os.path.join(_PYTHON, "mlx_trace")) and _PYTHON not in sys.path:
    sys.path.insert(0, _PYTHON)

from mlx_trace import estimate as est  # noqa: E402
from mlx_trace import stopping  # noqa: E402
from mlx_trace.format import TraceError, read_trace  # noqa: E402

#: Rounds of the old fixed default, the reference width w3 is taken on.
BASE_ROUNDS = 3
#: Modes other than attributed, in the order of the table's columns.
OTHER_MODES = ("none", "component")


@dataclass
class SetCost:
    """One set's counts and widths (``None``: not available)."""

    frames: int
    variant: str
    rounds: int  # distinct attributed rounds with timed runs
    partial_round: bool  # the last round has fewer runs than a full one (a recording cut short)
    round_runs: int  # attributed runs of a full round
    other_runs: dict  # mode -> timed runs, for the other modes present in the set
    forwards: int  # timed runs of all modes (warm-ups excluded)
    warmups: int  # warm-up runs of all modes
    w_final: float | None
    w3: float | None
    fixed_rounds: int | None
    fixed_forwards: int | None

    @property
    def ratio(self) -> float | None:
        if not self.fixed_forwards:
            return None
        return self.forwards / self.fixed_forwards


def fixed_rounds(w3, w_final, base: int = BASE_ROUNDS):
    """Rounds a fixed schedule needs for the half-width ``w_final`` when ``base`` rounds gave
    ``w3``: ceil(base * (w3 / w_final)^2), at least :data:`mlx_trace.stopping.MIN_REPS` (the
    fewest that give an interval). ``None`` when either width is missing or not positive and
    finite."""
    if w3 is None or w_final is None:
        return None
    if not (math.isfinite(w3) and math.isfinite(w_final)) or w3 <= 0.0 or w_final <= 0.0:
        return None
    # Rounded first, so that 3 * 2.0000000000000004 is 12 rounds, not 13.
    return max(math.ceil(round(base * (w3 / w_final) ** 2, 9)), stopping.MIN_REPS)


def sum_half_width(runs, targets, levels=None):
    """The attributed sum's 95% half-width relative to the sum, as the recorder's stopping rule
    computes it, from timed attributed run records; ``targets``: target name -> index;
    ``levels``: copies -> level index (one level when ``None``)."""
    levels = levels or {}
    tracker = stopping.SetTracker(["attributed"], len(targets), max(len(levels), 1))
    for r in runs:
        p = r["perturbation"]
        copies = int(p.get("copies") or 0)
        target = (targets[p.get("target")], levels.get(copies, 0)) if p.get("kind") == "duplicate" and p.get("target") in targets else None
        tracker.add("attributed", p.get("kind"), target, copies, int(r.get("run", 0)),
                    r["forward_ns"], int(p.get("reduced_arrays") or 0), int(p.get("reduced_bytes") or 0))
    return _sum_of(tracker)


def _sum_of(tracker):
    """The relative half-width of the pooled sum, from a tracker's runs."""
    n, levels = tracker.targets, tracker.levels
    cleaned = est.clean(tracker.attributed, n * levels)
    components = [[i * levels + lv for lv in range(levels)] for i in range(n)]
    return est.precision_of(cleaned.samples, tracker.specs(), components).sum


def _timed_attributed(runs):
    # As the analyzer: timed attributed runs with a perturbation; duplicates need a target and
    # at least one copy.
    out = []
    for r in runs:
        p = r.get("perturbation")
        if r.get("sync") != "attributed" or r.get("warmup") or not isinstance(p, dict):
            continue
        if p.get("kind") == "duplicate" and (p.get("target") is None or not p.get("copies")):
            continue
        if p.get("kind") not in ("reference", "control", "duplicate"):
            continue
        out.append(r)
    return out


def set_cost(frames: int, variant: str, runs) -> SetCost | str:
    """The :class:`SetCost` of one set's run records, or a note on why there is none."""
    attributed = _timed_attributed(runs)
    if not attributed:
        return "no timed attributed runs"
    per_round = Counter(int(r["perturbation"].get("round", 0)) for r in attributed)
    rounds = len(per_round)
    round_runs = max(per_round.values())
    last = max(per_round)
    partial_round = rounds > 1 and per_round[last] < round_runs
    modes_present = {r.get("sync") for r in runs}
    other_runs = {m: sum(1 for r in runs if r.get("sync") == m and not r.get("warmup")) for m in OTHER_MODES if m in modes_present}
    forwards = sum(1 for r in runs if not r.get("warmup"))
    warmups = sum(1 for r in runs if r.get("warmup"))

    names = sorted({r["perturbation"]["target"] for r in attributed if r["perturbation"].get("kind") == "duplicate"})
    targets = {n: i for i, n in enumerate(names)}
    copies_of_round = {}
    for r in attributed:
        p = r["perturbation"]
        if p.get("kind") == "duplicate":
            copies_of_round[int(p.get("round", 0))] = max(copies_of_round.get(int(p.get("round", 0)), 0), int(p["copies"]))
    # Two numbers of copies: rounds alternate them; the fixed schedule runs the first alone.
    ordered = sorted(set(copies_of_round.values()), key=lambda k: min(rd for rd, c in copies_of_round.items() if c == k))
    levels = {k: i for i, k in enumerate(ordered)} if len(ordered) > 1 else None
    w_final = sum_half_width(attributed, targets, levels)
    base_rounds = sorted(rd for rd in per_round if levels is None or copies_of_round.get(rd) == ordered[0])
    first = base_rounds[:BASE_ROUNDS]
    w3 = sum_half_width([r for r in attributed if int(r["perturbation"].get("round", 0)) in first], targets) if len(base_rounds) >= BASE_ROUNDS else None
    big_r = fixed_rounds(w3, w_final)
    fixed = None if big_r is None else big_r * (round_runs + len(other_runs))
    return SetCost(frames=frames, variant=variant, rounds=rounds, partial_round=partial_round, round_runs=round_runs,
                   other_runs=other_runs, forwards=forwards, warmups=warmups, w_final=w_final, w3=w3,
                   fixed_rounds=big_r, fixed_forwards=fixed)


def sets_of(runs):
    """Run records grouped by set, ``(frames, variant) -> runs``, in key order."""
    groups = {}
    for r in runs:
        groups.setdefault((int(r.get("frames", 0)), str(r.get("variant", ""))), []).append(r)
    return dict(sorted(groups.items()))


def _pct(w) -> str:
    if w is None:
        return "n/a"
    if not math.isfinite(w):
        return "inf"
    return f"±{100 * w:.2f}%"


def _or_na(v, fmt="{}") -> str:
    return "n/a" if v is None else fmt.format(v)


HEADER = ("| trace | frames | variant | attributed rounds | none runs | component runs "
          "| forwards, timed (warm-ups excluded) | warm-up forwards | ±sum, all rounds | ±sum, first 3 rounds "
          "| R (fixed rounds) | fixed forwards (R rounds, all modes) | ratio recorded / fixed |")
EXPLANATION = (
    "Forwards are run records (one forward pass each, whatever the mode); attributed rounds: timed rounds x "
    "the runs of a full round; none/component: timed runs, '-' where the mode was not recorded; ±sum: the "
    "attributed sum's 95% half-width relative to the sum by the recorder's estimator (slow runs set aside, drift removed); R = ceil(3 * (±sum first 3 / ±sum all)^2), at least 3, "
    "and a fixed `--runs R` costs R x (attributed runs per round + one run of each other mode), warm-ups "
    "excluded (the same in both schedules); ratio < 1: the precision-driven recording spent fewer forwards.")


def row(name: str, c: SetCost) -> str:
    rounds = f"{c.rounds}" + (" (last cut short)" if c.partial_round else "") + f" x {c.round_runs} runs"
    others = [str(c.other_runs[m]) if m in c.other_runs else "-" for m in OTHER_MODES]
    return "| " + " | ".join([
        name, str(c.frames), c.variant, rounds, *others, str(c.forwards), str(c.warmups), _pct(c.w_final), _pct(c.w3),
        _or_na(c.fixed_rounds), _or_na(c.fixed_forwards), _or_na(c.ratio, "{:.2f}"),
    ]) + " |"


def report(paths, out=sys.stdout, err=sys.stderr) -> int:
    """Prints the table for ``paths``; returns the exit status (1 when a file could not be read)."""
    rows, notes, status = [], [], 0
    for path in paths:
        name = os.path.basename(path)
        if not os.path.exists(path):
            hint = f" (a recording still running or interrupted left {os.path.basename(path)}.partial: pass that)" if os.path.exists(path + ".partial") else ""
            out.flush()
            print(f"precision_cost: {path}: no such file{hint}", file=err)
            status = 1
            continue
        try:
            trace = read_trace(path)
        except (TraceError, OSError) as e:
            out.flush()
            print(f"precision_cost: {path}: cannot read the trace: {e}", file=err)
            status = 1
            continue
        if not trace["complete"]:
            name += " (incomplete)"
        groups = sets_of(trace["runs"])
        if not groups:
            notes.append(f"{name}: no runs")
        for (frames, variant), runs in groups.items():
            try:
                c = set_cost(frames, variant, runs)
            except (KeyError, TypeError, ValueError) as e:
                c = f"malformed run records ({type(e).__name__}: {e})"
            if isinstance(c, str):
                notes.append(f"{name}, {frames} frames, {variant}: skipped, {c}")
                continue
            if c.w_final is None:
                notes.append(f"{name}, {frames} frames, {variant}: the attributed sum has no interval (too few runs)")
            rows.append(row(name, c))
    if rows:
        print(HEADER, file=out)
        print("|" + "---|" * HEADER.count(" | ") + "---|", file=out)
        for r in rows:
            print(r, file=out)
        print(file=out)
        print(EXPLANATION, file=out)
    for n in notes:
        print(f"note: {n}", file=out)
    return status


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description="For each set (frames x variant) of each trace: the forwards a precision-driven "
                    "recording (--precision) spent, against a fixed --runs schedule that reaches the same "
                    "95% half-width of the attributed sum.",
        epilog="Widths are the recorder's (mlx_trace.stopping / mlx_trace.estimate). R = ceil(3 * (w3 / w)^2), "
               "w3: the width on the first 3 rounds, w: on all rounds.")
    ap.add_argument("traces", nargs="+", metavar="TRACE", help="trace files (.msgpack, or .msgpack.partial while recording)")
    args = ap.parse_args(argv)
    return report(args.traces)


if __name__ == "__main__":
    sys.exit(main())
