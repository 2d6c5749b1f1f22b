"""The recording loop: warm-up and timed repetitions of a forward in each mode, the attribution
schedule, memory counters, one trace record per forward.

The schedule, the stopping rule (:mod:`mlx_trace.stopping`) and the fields written are those of
the Rust recorder (``recorder/src/session.rs``), so ``mlx-analyze`` attributes Python traces with
no change.
"""

from __future__ import annotations

import gc
import math
import signal
import sys
import time

import mlx.core as mx

from . import format as fmt
from . import machine
from . import stopping
from .calibrate import calibrate as _calibrate
from .probe import Probe, arrays_of, recording

#: A plain reference forward after every this many duplicates (as in the Rust recorder).
REFERENCE_EVERY = 4


def attribution_round(round_: int, targets: int, copies: int) -> list:
    """The perturbations of one attribution round: ``(kind, target index or None, copies)``.

    A reference, the control and every target once, the targets rotated by the round so that
    slow drift does not always fall on the same components, with a reference after every
    :data:`REFERENCE_EVERY` of them. Warm-up rounds run the same schedule, untimed: every
    perturbation is a graph of its own, whose first run pays for what later runs reuse.
    """
    out = [("reference", None, 0), ("control", None, 0)]
    offset = 0 if targets == 0 else (round_ * max(math.ceil(targets / 3), 1)) % targets
    for i in range(targets):
        out.append(("duplicate", (i + offset) % targets, copies))
        if (i + 1) % REFERENCE_EVERY == 0 and i + 1 < targets:
            out.append(("reference", None, 0))
    return out


def copies_within(requested: int, stage, headroom: int) -> int:
    """Extra copies of ``stage`` that fit in ``headroom`` bytes, assuming every invocation's copies
    alive at once; at most ``requested``, at least 1."""
    per_copy = stage.output_bytes * stage.calls
    if per_copy == 0:
        return requested
    return int(min(max(headroom // per_copy, 1), max(requested, 1)))


class Recorder:
    """Writes one trace: a header with machine metadata, calibrations, runs.

    ``model``: the model's name (the trace's ``preset``); ``dtype``: ``f32``, ``bf16`` or ``f16``;
    ``config``: the ``metadata.model`` fields that apply (``dim``, ``heads``, ``head_dim``,
    ``blocks``, ``ffn_dim``, ...; others are 0); ``labels``: free-form strings. ``force``
    replaces an existing trace at ``path`` when the recording completes.

    Use as a context manager, or call :meth:`finish`. An exception or Ctrl-C inside the ``with``
    leaves ``path.partial`` with every completed run (``mlx-analyze`` reads it).
    """

    def __init__(self, path, *, model: str = "custom", dtype: str = "f32", config: dict | None = None,
                 labels: dict | None = None, height: int = 0, width: int = 0, seed: int = 0,
                 weights: str = "synthetic", force: bool = False, quiet: bool = True):
        if dtype not in ("f32", "bf16", "f16"):
            raise ValueError(f"dtype must be 'f32', 'bf16' or 'f16', got {dtype!r}")
        meta = machine.machine_metadata(mx)
        meta.update(dtype=dtype, preset=model, model=fmt.model_config(**(config or {})), height=height,
                    width=width, weights=weights, seed=seed, labels=labels or {})
        self.metadata = fmt.metadata(**meta)
        self.backend = self.metadata["backend"]
        self.dtype = dtype
        self.quiet = quiet
        self.file = fmt.TraceFile(path, fmt.header(self.metadata), force=force)
        self.run_index = 0
        self.interrupted = False
        #: One dict per mode and :meth:`record` call: what precision each set reached and why it
        #: stopped (``precision``, ``target``, ``met``, ``reps``, ``reason``, ``line``, ...).
        self.precision_results = []
        #: Seconds for ``max_time`` (replaceable, for tests).
        self.clock = time.monotonic

    # -- context manager -------------------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.finish()
        else:
            partial = self.file.abandon()
            if exc_type is not KeyboardInterrupt:
                print(f"mlx-trace: {self.file.runs} completed run(s) kept in {partial}", file=sys.stderr)
        return False

    def calibrate(self, dtype: str | None = None, quick: bool = False, gemm_shapes=None) -> dict:
        """Measures the machine's matmul rate and bandwidth and writes the calibration record.
        ``gemm_shapes``: the model's own GEMMs, (m, k, n) or (source, (m, k, n)), measured beside
        the square; the matmul ceiling is the best of them all."""
        c = fmt.calibration(**_calibrate(dtype or self.dtype, gpu=self.backend != "cpu", quick=quick, gemm_shapes=gemm_shapes))
        self.file.add_calibration(c)
        return c

    def _say(self, msg: str) -> None:
        if not self.quiet:
            print(f"mlx-trace: {msg}", file=sys.stderr)

    def forward_once(self, forward, mode: str, *, frames: int, tokens: int, variant: str = "baseline",
                     warmup: bool = False, perturb=None, inflate=None):
        """One timed forward in ``mode`` with ``perturb`` added; returns (run, output, probe).

        The run is not written (see :meth:`record`, which writes it)."""
        run = fmt.Run(self.run_index, variant, mode, frames, tokens, warmup=warmup)
        mx.reset_peak_memory()
        probe = Probe(mode, run=run, perturb=perturb, inflate=inflate)
        # No garbage collection inside the timed forward: a collection pause would land on
        # whichever run it happens in (it runs between forwards instead).
        collecting = gc.isenabled()
        gc.collect()
        gc.disable()
        try:
            with recording(probe):
                # Read outside the clock: the pages the OS hands out fresh during the forward.
                faults = machine.minor_faults()
                probe.start_clock()
                start = time.perf_counter_ns()
                out = forward()
                built = time.perf_counter_ns()
                arrays = arrays_of(out)
                if not arrays:
                    raise TypeError("the forward must return an array, or a tuple, list or dict of arrays")
                mx.eval(arrays)
                end = time.perf_counter_ns()
                faults_after = machine.minor_faults()
        finally:
            if collecting:
                gc.enable()
        probe.flush_events()
        fused = mode in ("none", "attributed")
        if fused:
            # Nested components' costs are inside their parents': the top level adds up.
            top = [s for s in probe.stages.values() if s.parent is None]
            total_f = sum(s.flops * s.calls for s in top)
            total_b = sum(s.bytes * s.calls for s in top)
            run.push_event(run.component("forward", total_f, total_b), None, start - probe.t0, end - start)
            run.graph_ns = built - start
        run.forward_ns = end - start
        if faults is not None and faults_after is not None:
            run.minor_faults = max(faults_after - faults, 0)
        run.active_memory_bytes = mx.get_active_memory()
        run.peak_memory_bytes = mx.get_peak_memory()
        return run, out, probe

    def stages_of(self, forward) -> list:
        """The components one forward runs, in first-seen order (its graph is built, not run)."""
        probe = Probe("none")
        with recording(probe):
            out = forward()
        del out
        return list(probe.stages.values())

    def record(self, forward, *, tokens: int, frames: int | None = None, variant: str = "baseline",
               modes=("none", "attributed"), runs: int | None = None, warmup: int = 1, copies: int = 4,
               check_copies: int | None = None, inflate=None, precision: float | None = None,
               max_time: float | None = None) -> int:
        """Records ``forward`` (a function of no arguments returning the output arrays) at one
        input shape: ``warmup`` repetitions (at each copies level), then timed ones, each
        running every mode of ``modes``; an ``attributed`` repetition is a whole attribution
        round (a reference, the control, every component duplicated ``copies`` times, a
        reference after every four), warm-ups included.

        How many timed repetitions: exactly ``runs`` when it is given; otherwise until every
        estimate's 95% interval is within ``precision`` of its value (relative half-width,
        default 0.05): the attributed sum and every component of at least 5% of the forward,
        the mean forward in the other modes, estimated as ``mlx-analyze`` does
        (:mod:`mlx_trace.estimate`). Without ``runs``, every other timed attributed round
        duplicates with ``check_copies`` copies instead of ``copies`` (default twice
        ``copies``; 0 or ``copies``: one level), so that the analyzer can tell whether a copy
        costs the same however many there are; each component's cost pools both levels. At
        least 3 repetitions (5 once a slow run was set aside) at each copies level; the modes
        that meet the target stop, the others go on until ``max_time`` seconds (default 600)
        have passed since the first timed run. A line per mode says what was reached (unless
        ``quiet``); :attr:`precision_results` keeps them.

        ``tokens``: the sequence length; ``frames``: the analyzer's key of one input shape
        (a video model's frame count; for other models any number that tells the shapes apart,
        by default ``tokens``). Returns the number of runs written.
        """
        modes = list(modes)
        for m in modes:
            if m not in fmt.MODES:
                raise ValueError(f"unknown mode {m!r}: choose from {', '.join(fmt.MODES)}")
        if not modes:
            raise ValueError("no mode to record")
        if (runs is not None and runs < 1) or warmup < 0 or copies < 1:
            raise ValueError(f"need runs >= 1, warmup >= 0, copies >= 1 (got runs={runs}, warmup={warmup}, copies={copies})")
        check_copies = 2 * copies if check_copies is None else int(check_copies)
        if check_copies < 0:
            raise ValueError(f"check_copies must be 0 (no check) or more, got {check_copies}")
        if runs is not None:
            if runs > stopping.MAX_REPS:
                raise ValueError(f"runs must be at most {stopping.MAX_REPS}, got {runs}")
            if precision is not None or max_time is not None:
                raise ValueError("runs is an exact count: precision and max_time apply only without it")
        else:
            precision = stopping.DEFAULT_PRECISION if precision is None else float(precision)
            max_time = stopping.DEFAULT_MAX_TIME if max_time is None else float(max_time)
            if not 0.0 < precision < 1.0:
                raise ValueError(f"precision is a relative half-width above 0 and below 1 (0.05: 5%), got {precision}")
            if not (max_time >= 0.0 and math.isfinite(max_time)):
                raise ValueError(f"max_time must be a number of seconds, 0 or more, got {max_time}")
        tokens = int(tokens)
        frames = int(tokens if frames is None else frames)
        if frames > 2 ** 32 - 1:
            raise ValueError(f"frames must fit in 32 bits, got {frames}")
        if set(modes) - {"none"}:
            from .instrument import COMPILED_HELP, CompiledError, is_compiled

            if is_compiled(forward):
                raise CompiledError("the forward is an mx.compile'd function: its components cannot be timed or "
                                    "duplicated (mode 'none' alone records it). " + COMPILED_HELP)
        stages = self.stages_of(forward) if "attributed" in modes else []
        # The copies levels the timed rounds cycle through; an exact count uses `copies` alone.
        if runs is None and check_copies > 0 and check_copies != copies and "attributed" in modes:
            levels = [copies, check_copies]
        else:
            levels = [copies]
        stage_copies = None  # per level, per stage: the copies the memory allows
        written = 0
        tracker = stopping.SetTracker(modes, len(stages), len(levels))
        modes_now = modes
        rep = timed = 0
        reps_of = dict.fromkeys(modes, 0)  # timed repetitions each mode ran: some stop early
        deadline = None
        shown = ""
        previous = signal.getsignal(signal.SIGINT)

        def on_sigint(signum, frame):
            if self.interrupted:
                raise KeyboardInterrupt
            self.interrupted = True
            print("\nmlx-trace: interrupted, finishing the current run (interrupt again to stop now)", file=sys.stderr)

        try:
            signal.signal(signal.SIGINT, on_sigint)
        except ValueError:  # not the main thread
            previous = None
        cache = None
        try:
            if "attributed" in modes:
                # Every run of the set, plain ones included, under the same allocator: copies
                # reuse freed buffers as the component's own outputs do (machine.CacheForCopies).
                cache = machine.CacheForCopies(mx, self.backend, machine.memory_budget(mx, self.backend))
            while True:
                # `warmup` repetitions at each copies level.
                is_warmup = rep < warmup * len(levels)
                if not is_warmup and deadline is None and runs is None:
                    # The time limit counts from the first timed run: warm-ups and the graph's
                    # first builds are not what precision buys.
                    deadline = self.clock() + max_time
                where = "warm-up" if is_warmup else (f"round {timed + 1}/{runs}" if runs is not None else f"round {timed + 1}{shown}")
                # Rounds cycle through the copies levels, warm-ups too: the first round at a level
                # pays for what later ones reuse (more copies' buffers, a CUDA graph of its own).
                level = rep % len(levels) if is_warmup else timed % len(levels)
                for mode in modes_now:
                    # Warm-ups run round 0's schedule; timed rounds rotate by their count.
                    schedule = attribution_round(timed, len(stages), levels[level]) if mode == "attributed" else [("reference", None, 0)]
                    for kind, target, k in schedule:
                        if self.interrupted:
                            return written
                        if target is not None:
                            k = stage_copies[level][target]
                        st = stages[target] if target is not None else None
                        perturb = None
                        if mode == "attributed" and kind == "control":
                            perturb = "control"
                        elif mode == "attributed" and kind == "duplicate":
                            perturb = ("duplicate", st.name, k)
                        self._say(f"{variant} {tokens} tokens, {mode}" + (f" {kind}" if mode == "attributed" else "")
                                  + (f" {st.name} x{k}" if st else "") + f"; {where}")
                        run, out, probe = self.forward_once(forward, mode, frames=frames, tokens=tokens, variant=variant,
                                                            warmup=is_warmup, perturb=perturb, inflate=inflate)
                        del out
                        if mode == "attributed":
                            run.perturbation = fmt.perturbation(
                                kind=kind, target=st.name if st else None, copies=k, round=timed,
                                reduced_bytes=probe.reduced_bytes, reduced_arrays=probe.reduced_arrays,
                                target_calls=st.calls if st else 0, target_flops=st.flops if st else 0.0,
                                target_bytes=st.bytes if st else 0.0, target_parent=st.parent if st else None)
                        if stage_copies is None and perturb is None and stages:
                            # Copies per stage within the memory this plain forward leaves.
                            headroom = max(machine.memory_budget(mx, self.backend) - run.peak_memory_bytes, 0)
                            stage_copies = [[copies_within(n, s, headroom) for s in stages] for n in levels]
                            for n, level_copies in zip(levels, stage_copies):
                                for s, c in zip(stages, level_copies):
                                    if c < n:
                                        self._say(f"{s.name} gets {c} extra copies instead of {n} (memory)")
                        if not is_warmup:
                            tracker.add(mode, kind, None if target is None else (target, level), k, self.run_index, run.forward_ns,
                                        probe.reduced_arrays if mode == "attributed" else 0,
                                        probe.reduced_bytes if mode == "attributed" else 0)
                        self.file.add_run(run)
                        self.run_index += 1
                        written += 1
                rep += 1
                if is_warmup:
                    continue
                timed += 1
                for mode in modes_now:
                    reps_of[mode] += 1
                if runs is not None and timed < runs:
                    continue  # an exact count needs no estimate until the end
                status = tracker.status()
                step, what = stopping.next_step(runs, precision, timed, status, self.clock() >= deadline if deadline is not None else False,
                                                levels=len(levels))
                if step == "continue":
                    modes_now = what
                    shown = stopping.progress_text(status, timed, precision)
                    continue
                self._precision_summary(status, reps_of, precision, what, stages, tokens=tokens, frames=frames, variant=variant)
                return written
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
            if cache is not None:
                cache.restore()

    def _precision_summary(self, status, reps_of, target, reason, stages, *, tokens, frames, variant) -> None:
        """Keeps and prints (unless quiet) one line per mode on what a set reached."""
        where = f"{tokens} tokens" if frames == tokens else f"{frames} frames ({tokens} tokens)"
        for st in status:
            reps = reps_of[st.mode]
            line = stopping.summary(st, reps, target, reason, lambda i: stages[i].name)
            self.precision_results.append({
                "tokens": tokens, "frames": frames, "variant": variant, "mode": st.mode, "precision": st.precision,
                "target": target, "met": None if target is None else stopping.met(st, target), "reps": reps,
                # A mode that met the target stopped for that, whatever ended the set.
                "reason": "met" if target is not None and stopping.met(st, target) else reason, "least_precise": stages[st.worst_target].name if st.worst_target is not None else None,
                "slow_runs": st.slow_runs, "line": f"precision at {where}, {variant}: {line}",
            })
            self._say(self.precision_results[-1]["line"])

    def profile(self, model, *inputs, kwargs=None, tokens=None, frames=None, depth=None, filter=None, fast=True,
                variant: str = "baseline", modes=("none", "attributed"), runs: int | None = None, warmup: int = 1,
                copies: int = 4, check_copies: int | None = None, inflate=None, precision: float | None = None,
                max_time: float | None = None) -> int:
        """Records ``model(*inputs, **kwargs)`` with the ``nn.Module`` tree instrumented for the
        recording only (no change to its code; see :func:`mlx_trace.profile` and
        :mod:`mlx_trace.instrument`). State among the inputs (a KV cache) is the same afterwards.
        ``tokens`` defaults to the first array input's sequence length; the other arguments are
        :meth:`record`'s. Returns the number of runs written."""
        from .profiling import profile_into

        return profile_into(self, model, *inputs, kwargs=kwargs, tokens=tokens, frames=frames, depth=depth,
                            filter=filter, fast=fast, variant=variant, modes=modes, runs=runs, warmup=warmup,
                            copies=copies, check_copies=check_copies, inflate=inflate, precision=precision,
                            max_time=max_time)

    def finish(self) -> str:
        """Ends the trace and renames it into place; returns its path. After an interrupted
        :meth:`record` the trace stays ``NAME.partial`` (its path is returned)."""
        if self.interrupted:
            partial = self.file.abandon()
            print(f"mlx-trace: interrupted; {self.file.runs} completed run(s) kept in {partial} (mlx-analyze reads it)", file=sys.stderr)
            return partial
        return self.file.finish()
