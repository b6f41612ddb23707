"""How long a model takes to load, learned from few and partly censored samples.

Load times are modelled as log-normal, which fits restore times well (a floor and a long
right tail). What is known about one model:

- exact cold starts: from the first "not ready" to an answer found by a poll at most a
  poll interval after the previous "not ready";
- bounded ones: the answer came after a longer silence (the billing-aware pre-warm holds
  its ready-check back; a poll was lost), so the copy was ready somewhere between the
  last "not ready" and the answer: ``(low, high]``;
- a prior: what the fleet's models of its size took (pooled exact samples), or the
  operator's default, weighted as a number of pseudo-samples.

:func:`fit` estimates the log-normal's mean and spread by expectation-maximisation over
both kinds of sample with the prior folded in, and :func:`upper_quantile` gives the
predictive quantile (Student's t: a new model with few samples gets a longer lead, not a
falsely confident one). Pure: numbers in, numbers out.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Optional, Sequence

# One-sided quantiles of Student's t: (1/dof, t) for the 95th and 99th percentiles, on
# which :func:`_t` interpolates linearly in 1/dof (exact at these degrees of freedom).
_T = {
    95: [(0.0, 1.645), (1 / 120, 1.658), (1 / 60, 1.671), (1 / 30, 1.697), (1 / 20, 1.725), (1 / 15, 1.753),
         (1 / 10, 1.812), (1 / 8, 1.860), (1 / 6, 1.943), (1 / 5, 2.015), (1 / 4, 2.132), (1 / 3, 2.353),
         (1 / 2, 2.920), (1.0, 6.314)],
    99: [(0.0, 2.326), (1 / 120, 2.358), (1 / 60, 2.390), (1 / 30, 2.457), (1 / 20, 2.528), (1 / 15, 2.602),
         (1 / 10, 2.764), (1 / 8, 2.896), (1 / 6, 3.143), (1 / 5, 3.365), (1 / 4, 3.747), (1 / 3, 4.541),
         (1 / 2, 6.965), (1.0, 31.821)],
}
PERCENTILES = tuple(_T)
_EM_ROUNDS = 30
_MIN_SIGMA = 0.05  # a spread no real fleet of loads has less than; keeps the fit finite


@dataclass(frozen=True)
class Prior:
    """A log-normal belief about load times, worth ``weight`` samples."""

    mu: float  # mean of log(seconds)
    sigma: float  # spread of log(seconds)
    weight: float
    source: str  # where it came from, for the API to show

    @property
    def median_seconds(self) -> float:
        return math.exp(self.mu)

    def to_item(self) -> dict[str, object]:
        return {"mu": round(self.mu, 6), "sigma": round(self.sigma, 6), "weight": self.weight,
                "source": self.source}

    @classmethod
    def from_item(cls, item: dict) -> "Prior":
        return cls(float(item["mu"]), float(item["sigma"]), float(item["weight"]), str(item["source"]))


def default_prior(median_seconds: float, sigma: float, weight: float) -> Prior:
    return Prior(math.log(median_seconds), sigma, weight, "default")


def pooled_prior(count: int, total: float, total_squares: float, weight: float, source: str) -> Optional[Prior]:
    """The prior from pooled exact samples (their count, sum and sum of squares of log
    seconds); None with fewer than two."""
    if count < 2:
        return None
    mu = total / count
    variance = max(0.0, total_squares / count - mu * mu) * count / (count - 1)
    return Prior(mu, max(_MIN_SIGMA, math.sqrt(variance)), weight, source)


@dataclass(frozen=True)
class FleetLoads:
    """Running totals of exact cold starts in one group of models: count, sum and sum of
    squares of the natural log of their seconds (what a store keeps for the fleet)."""

    count: int = 0
    total: float = 0.0
    squares: float = 0.0


@dataclass(frozen=True)
class Fit:
    mu: float
    sigma: float
    samples: float  # effective number of samples, the prior's weight included


def fit(exact: Sequence[float], bounds: Sequence[tuple[float, float]], prior: Prior) -> Fit:
    """The log-normal that best explains exact samples and ``(low, high]`` bounds (seconds;
    low may be 0), with the prior counted as ``prior.weight`` samples at its mean and spread.

    Expectation-maximisation: each bounded sample contributes the mean and second moment
    of the current fit truncated to its interval, until the fit settles."""
    logs = [math.log(x) for x in exact if x > 0]
    intervals = [(math.log(low) if low > 0 else -math.inf, math.log(high)) for low, high in bounds if high > 0]
    n = prior.weight + len(logs) + len(intervals)
    # The prior as pseudo-samples: their sum and sum of squares.
    base_sum = prior.weight * prior.mu + sum(logs)
    base_squares = prior.weight * (prior.sigma ** 2 + prior.mu ** 2) + sum(y * y for y in logs)
    mu, sigma = prior.mu, prior.sigma
    for _ in range(_EM_ROUNDS if intervals else 1):
        moments = [_truncated_moments(mu, sigma, a, b) for a, b in intervals]
        total = base_sum + sum(m for m, _ in moments)
        squares = base_squares + sum(s for _, s in moments)
        mu = total / n
        sigma = max(_MIN_SIGMA, math.sqrt(max(0.0, squares / n - mu * mu)))
    return Fit(mu, sigma, n)


def upper_quantile(fitted: Fit, percentile: int) -> float:
    """The predictive ``percentile`` of the next load, in seconds: the fit's quantile widened
    for how few samples it rests on (Student's t with samples - 1 degrees of freedom, and
    the uncertainty of the mean itself)."""
    dof = max(1.0, fitted.samples - 1)
    spread = fitted.sigma * math.sqrt(1 + 1 / fitted.samples)
    return math.exp(fitted.mu + _t(percentile, dof) * spread)


def _t(percentile: int, dof: float) -> float:
    table = _T[percentile]
    x = 1 / dof
    i = min(bisect.bisect_left([p for p, _ in table], x), len(table) - 1)
    (x0, t0), (x1, t1) = table[max(0, i - 1)], table[i]
    return t0 if x1 == x0 else t0 + (t1 - t0) * (x - x0) / (x1 - x0)


def _truncated_moments(mu: float, sigma: float, a: float, b: float) -> tuple[float, float]:
    """E[y] and E[y^2] for y ~ N(mu, sigma^2) conditioned on a < y <= b."""
    alpha, beta = (a - mu) / sigma, (b - mu) / sigma
    mass = _cdf(beta) - _cdf(alpha)
    if mass < 1e-12:
        # Far in a tail: the interval's edge nearest the fit is as good as it gets.
        y = b if beta < 0 else (a if math.isfinite(a) else b)
        return y, y * y
    pa, pb = _pdf(alpha), _pdf(beta)
    mean_z = (pa - pb) / mass
    ta = alpha * pa if math.isfinite(alpha) else 0.0
    tb = beta * pb if math.isfinite(beta) else 0.0
    second_z = 1 + (ta - tb) / mass
    mean = mu + sigma * mean_z
    variance = sigma * sigma * max(0.0, second_z - mean_z * mean_z)
    return mean, variance + mean * mean


def _pdf(z: float) -> float:
    return math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi) if math.isfinite(z) else 0.0


def _cdf(z: float) -> float:
    if z == -math.inf:
        return 0.0
    if z == math.inf:
        return 1.0
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))
