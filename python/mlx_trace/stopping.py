"""When a recording has enough repetitions: an exact count, or until every estimate is as
precise as asked. The rules are the Rust recorder's (``recorder/src/precision.rs``).

Each set (one length and variant: one :meth:`Recorder.record` call) runs repetitions
(attributed: whole rounds) until the 95% interval of what the analyzer will report reaches the
target: the attributed sum and every component of at least
:data:`mlx_trace.estimate.PRECISION_SHARE` of the forward; in the other modes, the mean forward.
The estimate is the analyzer's own (:mod:`mlx_trace.estimate`: slow runs set aside, drift
removed), so the promise holds in the report. Extra repetitions run only the modes still short.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import estimate as est

#: The default target: 5% half-width reads a share of 20% as 19-21%, enough to rank components;
#: tighter targets cost repetitions as 1/target^2.
DEFAULT_PRECISION = 0.05
#: The default time for the timed runs (seconds): bounds a recording on a machine too noisy to
#: reach the target.
DEFAULT_MAX_TIME = 600.0
#: Fewest repetitions of a precision-driven set: intervals need three runs of every mean.
MIN_REPS = 3
#: Most repetitions of a set, whatever the target.
MAX_REPS = 10_000


@dataclass(frozen=True)
class ModeStatus:
    """One mode's precision so far: the least precise relative half-width waited on (``None``
    without an interval yet), the attributed target behind it when it is not the sum, and the
    runs set aside as slow."""

    mode: str
    precision: float | None
    worst_target: int | None
    slow_runs: int


def _measure(reduced_arrays, reduced_bytes) -> float:
    # The control's cost is shared out by extra scalars, else (older traces) bytes reduced.
    return float(reduced_arrays if reduced_arrays > 0 else reduced_bytes)


class SetTracker:
    """The timed runs of one set, as the stopping rule sees them."""

    def __init__(self, modes, targets: int, levels: int = 1):
        """A set recording ``modes`` with ``targets`` attributed components, duplicated at
        ``levels`` copies levels (at least 1): target ``i`` at level ``l`` is the estimator's
        target ``i * levels + l``."""
        self.modes = list(modes)
        self.targets = targets
        self.levels = max(int(levels), 1)
        self.attributed = []
        # Per target and level: copies, and extra scalars (arrays, else bytes) of each duplicate.
        self.target_measure = [[1.0, []] for _ in range(targets * self.levels)]
        self.control_measure = []
        self.plain = {m: [] for m in self.modes if m != "attributed"}

    def add(self, mode, kind, target, copies, order, forward_ns, reduced_arrays=0, reduced_bytes=0):
        """A timed run (not a warm-up). ``target``: for a duplicate, ``(target, copies level)``
        (a plain index is level 0); ``order``: its index in the trace."""
        time = float(forward_ns)
        if mode == "attributed":
            if kind == "reference":
                role = est.REFERENCE
            elif kind == "control":
                self.control_measure.append(_measure(reduced_arrays, reduced_bytes))
                role = est.CONTROL
            elif kind == "duplicate" and target is not None:
                i, level = target if isinstance(target, tuple) else (target, 0)
                # Out of range is ignored, never counted at another level or target.
                if not (0 <= i < self.targets and 0 <= level < self.levels):
                    return
                v = i * self.levels + level
                self.target_measure[v][0] = float(max(copies, 1))
                self.target_measure[v][1].append(_measure(reduced_arrays, reduced_bytes))
                role = v
            else:
                return
            self.attributed.append(est.Timed(role, float(order), time))
        elif mode in self.plain:
            self.plain[mode].append(time)

    def specs(self) -> list:
        """Each estimator target's (target and level's) copies and share of the control's extra
        cost (f), from the means."""
        ctrl = est.mean(self.control_measure)
        return [est.TargetSpec(k, est.mean(m) / ctrl if ctrl > 0.0 else 0.0) for k, m in self.target_measure]

    def status(self) -> list:
        """Every mode's :class:`ModeStatus`."""
        out = []
        for mode in self.modes:
            if mode == "attributed":
                cleaned = est.clean(self.attributed, self.targets * self.levels)
                components = [[i * self.levels + l for l in range(self.levels)] for i in range(self.targets)]
                p = est.precision_of(cleaned.samples, self.specs(), components)
                worst = None
                if p.components and p.sum is not None and p.components[0][1] > p.sum:
                    worst = p.components[0][0]
                out.append(ModeStatus(mode, p.worst(), worst, cleaned.slow_runs))
            else:
                times = self.plain[mode]
                slow = est.clean([est.Timed(est.REFERENCE, float(i), t) for i, t in enumerate(times)], 0).slow_runs
                out.append(ModeStatus(mode, est.mean_precision(times), None, slow))
        return out


def met(status: ModeStatus, target: float) -> bool:
    """Whether a mode's status meets the target."""
    return status.precision is not None and status.precision <= target


def next_step(runs, target, reps: int, status, out_of_time: bool, levels: int = 1):
    """What follows ``reps`` timed repetitions: ``("continue", modes)`` or ``("stop", reason)``,
    reason ``count``, ``met``, ``time`` or ``cap``. ``runs``: an exact count, or ``None`` for
    precision-driven (``target``): at least :data:`MIN_REPS` (five once a slow run was set
    aside) at each of the ``levels`` copies levels the rounds cycle through; ``out_of_time``:
    the set's time is spent."""
    every = [s.mode for s in status]
    if runs is not None:
        return ("stop", "count") if reps >= runs else ("continue", every)
    # Five repetitions once a slow run was set aside: with a tenth of runs slow, three leave all
    # runs of some component slow too often. As many at each copies level: each is a mean of
    # its own.
    floor = max(levels, 1) * (est.MIN_ROUNDS_WITH_SLOW_RUNS if any(s.slow_runs > 0 for s in status) else MIN_REPS)
    if reps < floor:
        return ("continue", every)
    short = [s.mode for s in status if not met(s, target)]
    if not short:
        return ("stop", "met")
    if out_of_time:
        return ("stop", "time")
    if reps >= MAX_REPS:
        return ("stop", "cap")
    return ("continue", short)


def reps_to_go(status: ModeStatus, reps: int, target: float):
    """The repetitions a mode still needs, from the rate intervals narrow at (1/sqrt(n));
    ``None`` without a finite precision."""
    p = status.precision
    if p is None or not math.isfinite(p):
        return None
    if p <= target:
        return 0
    return max(math.ceil(reps * (p / target) ** 2) - reps, 1)


def percent(v: float) -> str:
    """``0.05`` as ``5%``, ``0.025`` as ``2.5%``."""
    return f"{100 * v:.1f}".rstrip("0").rstrip(".") + "%"


def progress_text(status, reps: int, target: float) -> str:
    """The least precise mode short of the target, and the repetitions that would take:
    `` (attributed ±7.9% of 5%, ~9 more)``; empty when every mode meets it."""
    short = [s for s in status if not met(s, target)]
    if not short:
        return ""
    st = max(short, key=lambda s: math.inf if s.precision is None else s.precision)
    p = "no interval yet" if st.precision is None else f"±{100 * st.precision:.1f}%"
    more = reps_to_go(st, reps, target)
    return f" ({st.mode} {p} of {percent(target)}" + (f", ~{more} more" if more else "") + ")"


def summary(status: ModeStatus, reps: int, target, reason: str, name_of) -> str:
    """One line on a mode's precision at the end of a set: ``attributed ±3.1% after 6 rounds
    (target 5%: met)``. ``target``: ``None`` for an exact count; ``name_of(i)`` names target i."""
    unit = "rounds" if status.mode == "attributed" else "runs"
    p = "no interval" if status.precision is None else f"±{100 * status.precision:.1f}%"
    line = f"{status.mode} {p} after {reps} {unit}"
    if target is None:
        return line
    if met(status, target):
        return line + f" (target {percent(target)}: met)"
    why = {"time": ", time limit", "cap": ", repetition cap"}.get(reason, "")
    worst = f"; least precise: {name_of(status.worst_target)}" if status.worst_target is not None else ""
    return line + f" (target {percent(target)}: not met{why}{worst})"


def time_share(elapsed: float, max_time: float, weights) -> float:
    """The seconds of ``max_time`` for the next set of a recording: what is left after
    ``elapsed``, shared among the sets still to run (``weights``, this one's first) by cost."""
    left = max(max_time - elapsed, 0.0)
    total = sum(weights)
    share = weights[0] / total if total > 0 else 1.0
    return left * min(max(share, 0.0), 1.0)
