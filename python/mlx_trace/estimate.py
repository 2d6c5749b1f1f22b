"""The attribution estimator of the Rust crate ``attribution-estimate``, in plain Python.

The Python recorder decides when a recording is precise enough with the same rules as the Rust
recorder and the analyzer, so a promise made while recording holds in ``mlx-analyze``'s report.
Every function here follows its Rust namesake step by step (same constants, same tie rules,
same order of floating-point operations where it matters), and
``attribution-estimate/tests/fixtures/synthetic-set.json`` checks that both give the same
answers.

An attribution set holds plain fused forwards (references), controls and, per target X,
forwards with X's work done ``k`` more times. X's cost per forward is
``(mean TX - (1 - f) mean T0 - f mean Tc) / k`` (docs/attribution.md). Before any mean,
:func:`clean` sets slow runs aside (only slow ones: interference never makes a forward faster)
and removes a trend of the references when it is significant at :data:`DRIFT_LEVEL`
(docs/statistics.md, "Slow runs and drift").

A run's role is ``"reference"``, ``"control"`` or an ``int``: the index of the target whose work
it duplicates. A component duplicated at several copies levels (``k`` copies in some rounds,
``k'`` in others) is one target per level; :func:`precision_of` pools them into its cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

#: Fewest samples a mean keeps after slow runs are set aside (the noise is pooled over the set).
MIN_KEPT = 1
#: The threshold above a small group's fastest run (the range of a few runs is wide).
SLOW_Z_SMALL = 6.0
#: Groups with fewer runs than this are measured from their fastest run, not their median.
SMALL_GROUP = 6
#: A run this many robust standard deviations (log scale) above its group's median is slow.
SLOW_Z = 4.5
#: Repetitions a precision-driven recording takes at least once a slow run was set aside.
MIN_ROUNDS_WITH_SLOW_RUNS = 5
#: A trend in the references is removed when its t statistic passes this two-sided level.
DRIFT_LEVEL = 0.01
#: Components whose precision a recording waits for: at or above this share of the forward.
PRECISION_SHARE = 0.05

REFERENCE = "reference"
CONTROL = "control"


@dataclass(frozen=True)
class Timed:
    """One timed run: its role, its position in the recording (any increasing measure of time)
    and its wall time (any unit)."""

    role: object
    order: float
    time: float


@dataclass(frozen=True)
class TargetSpec:
    """How a target's duplicates relate to the references and controls: extra ``copies`` per
    invocation (k) and ``reduced_fraction`` (f), the share of the control's extra cost its
    duplicates also pay."""

    copies: float
    reduced_fraction: float


@dataclass
class Samples:
    """Run times of a set after slow runs and drift are dealt with."""

    references: list = field(default_factory=list)
    controls: list = field(default_factory=list)
    targets: list = field(default_factory=list)


@dataclass(frozen=True)
class Drift:
    """A trend of the references: relative change of the fitted reference from the first run to
    the last, its 95% interval, and whether it was removed from every run."""

    change: float
    ci95: tuple
    corrected: bool


@dataclass
class Cleaned:
    """Samples of a set, with what was done to them."""

    samples: Samples
    slow_runs: int = 0
    slow_excess: float = 0.0
    drift: Drift | None = None
    robust_sd: float | None = None


@dataclass(frozen=True)
class Noise:
    """Pooled relative variance of one run, and its degrees of freedom."""

    relative_var: float
    df: float


@dataclass(frozen=True)
class Cost:
    """A cost with the half-width of its 95% interval (``None`` when it cannot be had)."""

    value: float
    half: float | None

    def relative_half(self):
        """Half-width relative to the value (infinite for a value of zero or below)."""
        if self.half is None:
            return None
        return self.half / self.value if self.value > 0.0 else math.inf


@dataclass
class Precision:
    """Relative half-widths a recording waits on: of the sum of all costs, and of each component
    (a target, or one pooled over its copies levels: see :func:`precision_of`) at or above
    :data:`PRECISION_SHARE` of the forward as ``(component, half)``, least precise first."""

    sum: float | None
    components: list

    def worst(self):
        """The least precise of the sum and the components waited on."""
        if self.sum is None:
            return None
        w = self.sum
        for _, h in self.components:
            w = max(w, h)
        return w


# Plain left-to-right sums, as Rust's iterator sums: Python 3.12's sum() of floats compensates
# rounding, which would move results by an ulp or so against the Rust fixture.
def _sum(v) -> float:
    s = 0.0
    for x in v:
        s += x
    return s


def mean(v) -> float:
    """Mean of ``v`` (0 when empty)."""
    return _sum(v) / max(len(v), 1)


def _median(v) -> float:
    s = sorted(v)
    n = len(s)
    return s[n // 2] if n % 2 == 1 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def _mad_sd(v, centre: float) -> float:
    # 1.4826 x the median absolute deviation: the standard deviation under normal noise.
    return 1.4826 * _median([abs(x - centre) for x in v])


def _ols_slope(x, y):
    """Least squares of y on x: (slope, its standard error, residual degrees of freedom)."""
    n = len(x)
    if n < 4:
        return None
    mx = _sum(x) / n
    my = _sum(y) / n
    sxx = _sum((a - mx) * (a - mx) for a in x)
    if sxx <= 0.0:
        return None
    b = _sum((a - mx) * (c - my) for a, c in zip(x, y)) / sxx
    rss = _sum((c - my - b * (a - mx)) * (c - my - b * (a - mx)) for a, c in zip(x, y))
    df = float(n - 2)
    return b, math.sqrt(rss / df / sxx), df


def _group_of(role, targets: int):
    if role == REFERENCE:
        return 0
    if role == CONTROL:
        return 1
    if isinstance(role, int) and not isinstance(role, bool) and 0 <= role < targets:
        return 2 + role
    return None


def clean(runs, targets: int) -> Cleaned:
    """Sets slow runs aside and removes a significant drift. Runs whose time is not positive
    and finite are dropped. ``targets``: the number of targets."""
    runs = [r for r in runs if math.isfinite(r.time) and r.time > 0.0]
    log = [math.log(r.time) for r in runs]

    # Drift: a robust line through the references (Theil-Sen), their slow runs set aside by its
    # residuals, then least squares on the rest for the slope's standard error.
    refs = [(r.order, y) for r, y in zip(runs, log) if r.role == REFERENCE]
    drift = None
    if len(refs) >= 6:
        slopes = []
        for i in range(len(refs)):
            for j in range(i + 1, len(refs)):
                dx = refs[j][0] - refs[i][0]
                if dx != 0.0:
                    slopes.append((refs[j][1] - refs[i][1]) / dx)
        if slopes:
            b0 = _median(slopes)
            resid = [y - b0 * x for x, y in refs]
            a0 = _median(resid)
            sd = _mad_sd(resid, a0)
            keep = [p for p, r in zip(refs, resid) if sd == 0.0 or r - a0 <= SLOW_Z * sd]
            x = [p[0] for p in keep]
            y = [p[1] for p in keep]
            fit = _ols_slope(x, y)
            if fit is not None:
                b, se, df = fit
                span = max(x) - min(x)
                t = student_t_quantile(0.975, df)
                corrected = (se > 0.0 and abs(b / se) > student_t_quantile(1.0 - DRIFT_LEVEL / 2.0, df)) or (se == 0.0 and b != 0.0)
                if corrected:
                    centre = _sum(x) / len(x)
                    log = [v - b * (r.order - centre) for r, v in zip(runs, log)]
                drift = Drift(change=math.expm1(b * span),
                              ci95=(math.expm1((b - t * se) * span), math.expm1((b + t * se) * span)),
                              corrected=corrected)

    # Groups: references, controls, each target.
    groups = 2 + targets
    members = [[] for _ in range(groups)]
    for i, r in enumerate(runs):
        g = _group_of(r.role, targets)
        if g is not None:
            members[g].append(i)
    medians = [_median([log[i] for i in m]) if m else None for m in members]

    # The run-to-run spread: from the references where there are enough of them (spread over
    # the whole recording), else pooled over every group's deviations from its median.
    if len(members[0]) >= 8:
        robust_sd = _mad_sd([log[i] for i in members[0]], medians[0])
    else:
        dev = [log[i] - c for m, c in zip(members, medians) if len(m) >= 3 for i in m if log[i] - c != 0.0]
        robust_sd = _mad_sd(dev, 0.0) if len(dev) >= 6 else None

    slow = [False] * len(runs)
    excess = []
    if robust_sd is not None and robust_sd > 0.0:
        sd = robust_sd
        for g, m in enumerate(members):
            c = medians[g]
            if c is None:
                continue
            z = SLOW_Z
            # A group of a few runs is measured from its fastest: when two of three runs are
            # slow, their median is a slow run itself.
            if len(m) < SMALL_GROUP:
                c = min(log[i] for i in m)
                z = SLOW_Z_SMALL
            flagged = sorted((i for i in m if log[i] - c > z * sd), key=lambda i: log[i])
            # Never leave a group with fewer than MIN_KEPT runs: keep the least slow.
            while len(m) - len(flagged) < min(MIN_KEPT, len(m)) and flagged:
                flagged.pop(0)
            for i in flagged:
                slow[i] = True
                excess.append(math.expm1(log[i] - c))

    samples = Samples(targets=[[] for _ in range(targets)])
    corrected = drift is not None and drift.corrected
    for i, r in enumerate(runs):
        if slow[i]:
            continue
        # Untouched times stay exact; only a removed trend changes them.
        t = math.exp(log[i]) if corrected else r.time
        g = _group_of(r.role, targets)
        if g == 0:
            samples.references.append(t)
        elif g == 1:
            samples.controls.append(t)
        elif g is not None:
            samples.targets[g - 2].append(t)
    return Cleaned(samples=samples, slow_runs=len(excess),
                   slow_excess=_sum(excess) / len(excess) if excess else 0.0, drift=drift, robust_sd=robust_sd)


def pooled_noise(groups):
    """The relative variance of one run pooled over every group of two or more runs, with its
    degrees of freedom; ``None`` without such a group."""
    ss = 0.0
    df = 0
    for g in groups:
        if len(g) < 2:
            continue
        m = mean(g)
        if m != 0.0:
            ss += _sum(((v - m) / m) * ((v - m) / m) for v in g)
        df += len(g) - 1
    return Noise(relative_var=ss / df, df=float(df)) if df > 0 else None


def combination_half_width(parts, noise: Noise):
    """Half-width of the 95% interval of ``sum c_j * mean_j`` over ``parts`` = [(c_j, sample_j)];
    ``None`` when a mean has fewer than :data:`MIN_KEPT` samples or the variance is not finite."""
    if any(c != 0.0 and len(s) < MIN_KEPT for c, s in parts):
        return None
    var = _sum(c * c * noise.relative_var * (mean(s) * mean(s)) / len(s) for c, s in parts if c != 0.0)
    if not math.isfinite(var):
        return None
    return student_t_quantile(0.975, max(noise.df, 1.0)) * math.sqrt(var)


def _all_groups(samples: Samples):
    return [samples.references, samples.controls, *samples.targets]


def cost(samples: Samples, specs, which):
    """The sum of the costs of the targets ``which`` (by the cost formula) with its interval;
    ``None`` when a target has no runs or the set no references."""
    return combination(samples, specs, [(i, 1.0) for i in which])


def combination(samples: Samples, specs, terms):
    """``sum over (i, w) of w * cost(target i)`` with its interval, ``terms`` = [(i, w)]: a sum
    with weights 1, one component pooled over its copies levels (:func:`pooled_terms`), or the
    difference of two levels. ``None`` when a target of non-zero weight has no runs, an index is
    out of range, or the set has no references."""
    has_controls = bool(samples.controls)
    c_ref = c_ctrl = value = 0.0
    parts = []
    for i, w in terms:
        if not (0 <= i < len(samples.targets) and i < len(specs)):
            return None
        if w == 0.0:
            continue
        runs, spec = samples.targets[i], specs[i]
        if not runs:
            return None
        k = max(spec.copies, 1.0)
        f = spec.reduced_fraction if has_controls else 0.0
        parts.append((w / k, runs))
        c_ref -= w * (1.0 - f) / k
        c_ctrl -= w * f / k
        value += w * mean(runs) / k
    if not samples.references:
        return None
    value += c_ref * mean(samples.references) + c_ctrl * mean(samples.controls)
    parts.append((c_ref, samples.references))
    if c_ctrl != 0.0:
        parts.append((c_ctrl, samples.controls))
    noise = pooled_noise(_all_groups(samples))
    return Cost(value=value, half=combination_half_width(parts, noise) if noise is not None else None)


def level_weights(samples: Samples, specs, levels) -> list:
    """How one component's estimates at several copies levels (``levels``: the targets holding
    the same component duplicated ``k`` times in some rounds and ``k'`` in others) pool into its
    cost: weights summing to 1, each level's proportional to ``runs x k^2``, the inverse of the
    variance of its per-copy estimate (a forward's noise hardly depends on the copies it adds,
    and is divided by ``k``). Levels without runs get 0; a component without any run weighs its
    levels equally, so that its cost, like :func:`cost`'s, has no estimate."""
    raw = []
    for i in levels:
        n = float(len(samples.targets[i])) if 0 <= i < len(samples.targets) else 0.0
        k = max(specs[i].copies, 1.0) if 0 <= i < len(specs) else 1.0
        raw.append(n * k * k)
    total = _sum(raw)
    equal = 1.0 / max(len(levels), 1)
    return [w / total if total > 0.0 else equal for w in raw]


def pooled_terms(samples: Samples, specs, components) -> list:
    """The terms of ``components`` (each a list of target indices: its levels) pooled over their
    levels (see :func:`level_weights`), for :func:`combination`."""
    return [t for levels in components for t in zip(levels, level_weights(samples, specs, levels))]


def fused(samples: Samples):
    """The mean plain forward with its interval (the set's pooled noise)."""
    if not samples.references:
        return None
    noise = pooled_noise(_all_groups(samples))
    half = combination_half_width([(1.0, samples.references)], noise) if noise is not None else None
    return Cost(value=mean(samples.references), half=half)


def precision(samples: Samples, specs) -> Precision:
    """How precise a set's estimates are, after :func:`clean`, each target its own component."""
    return precision_of(samples, specs, [[i] for i in range(len(specs))])


def precision_of(samples: Samples, specs, components) -> Precision:
    """How precise a set's estimates are, after :func:`clean`, with each component measured at
    the copies levels (targets) it lists, pooled by :func:`level_weights`;
    :attr:`Precision.components` indexes ``components``."""
    whole = combination(samples, specs, pooled_terms(samples, specs, components))
    total = whole.relative_half() if whole is not None else None
    forward = mean(samples.references)
    parts = []
    for i, levels in enumerate(components):
        c = combination(samples, specs, pooled_terms(samples, specs, [levels]))
        if c is None:
            continue
        h = c.relative_half()
        if h is not None and forward > 0.0 and c.value >= PRECISION_SHARE * forward:
            parts.append((i, h))
    # Stable, least precise first (ties keep component order, as Rust's stable sort).
    parts.sort(key=lambda c: c[1], reverse=True)
    return Precision(sum=total, components=parts)


def mean_precision(times):
    """The relative half-width of the 95% interval of the mean of ``times`` (the other modes'
    forwards), after their slow runs are set aside by the same rule."""
    cleaned = clean([Timed(REFERENCE, float(i), t) for i, t in enumerate(times)], 0)
    f = fused(cleaned.samples)
    return f.relative_half() if f is not None else None


# -- Student's t ---------------------------------------------------------------------------------

_LANCZOS_G = 7.0
_LANCZOS = (0.9999999999998099, 676.5203681218851, -1259.1392167224028, 771.3234287776531,
            -176.6150291621406, 12.507343278686905, -0.13857109526572012, 9.984369578019572e-6,
            1.5056327351493116e-7)


def ln_gamma(x: float) -> float:
    """ln Gamma(x) for x > 0 (Lanczos, g = 7, 9 terms)."""
    if x < 0.5:
        # Reflection: Gamma(x) Gamma(1 - x) = pi / sin(pi x).
        return math.log(math.pi / math.sin(math.pi * x)) - ln_gamma(1.0 - x)
    x -= 1.0
    s = _LANCZOS[0]
    for i in range(1, len(_LANCZOS)):
        s += _LANCZOS[i] / (x + i)
    t = x + _LANCZOS_G + 0.5
    return 0.5 * math.log(2.0 * math.pi) + (x + 0.5) * math.log(t) - t + math.log(s)


def _beta_fraction(x: float, a: float, b: float) -> float:
    # Modified Lentz; TINY keeps a denominator from vanishing.
    tiny = 1e-300

    def guard(v):
        return tiny if abs(v) < tiny else v

    c = 1.0
    d = 1.0 / guard(1.0 - (a + b) * x / (a + 1.0))
    h = d
    for m in range(1, 501):
        m = float(m)
        num = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m))
        d = 1.0 / guard(1.0 + num * d)
        c = guard(1.0 + num / c)
        h *= d * c
        num = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0))
        d = 1.0 / guard(1.0 + num * d)
        c = guard(1.0 + num / c)
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-15:
            break
    return h


def incomplete_beta(x: float, a: float, b: float) -> float:
    """Regularized incomplete beta I_x(a, b) by its continued fraction, on the fast side."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * math.log(x) + b * math.log(1.0 - x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(x, a, b) / a
    return 1.0 - front * _beta_fraction(1.0 - x, b, a) / b


def student_t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` (> 0, not necessarily whole) degrees of freedom."""
    tail = 0.5 * incomplete_beta(df / (df + t * t), df / 2.0, 0.5)
    return 1.0 - tail if t >= 0.0 else tail


def student_t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t (bisection on the CDF, to about 1e-12 relative)."""
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -student_t_quantile(1.0 - p, df)
    hi = 1.0
    while student_t_cdf(hi, df) < p and hi < 1e300:
        hi *= 2.0
    lo = 0.0
    for _ in range(2000):
        mid = 0.5 * (lo + hi)
        if student_t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * hi:
            break
    return 0.5 * (lo + hi)
