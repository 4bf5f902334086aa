"""Scales and predictive distribution of the model: expected log-normalised value, NB interval, P(0)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
from scipy import special, stats


class _ExpectedLog:
    """``E[log1p(c Y)]``, ``Y ~ Poisson(mu)``, tabulated on a log grid of ``(mu, c)``, bilinear in the logs."""

    def __init__(self) -> None:
        mu_grid, c_grid = np.geomspace(1e-4, 1e3, 141), np.geomspace(1e-2, 1e3, 61)
        self.lmu, self.lc = np.log(mu_grid), np.log(c_grid)
        y = np.arange(0, 1400, dtype=np.float64)
        tab = np.zeros((mu_grid.size, c_grid.size))
        for i, mu in enumerate(mu_grid):
            top = int(min(y[-1], np.ceil(mu + 12 * np.sqrt(mu) + 10)))
            p = np.exp(stats.poisson.logpmf(y[: top + 1], mu))
            tab[i] = (p[:, None] / p.sum() * np.log1p(y[: top + 1, None] * c_grid[None, :])).sum(0)
        self.tab = tab

    def __call__(self, mu: np.ndarray, c: np.ndarray) -> np.ndarray:
        c = np.broadcast_to(np.asarray(c, np.float64)[:, None], mu.shape)
        lm = np.clip(np.log(np.maximum(mu, 1e-300)), self.lmu[0], self.lmu[-1])
        lc = np.clip(np.log(np.maximum(c, 1e-300)), self.lc[0], self.lc[-1])
        fi = (lm - self.lmu[0]) / (self.lmu[1] - self.lmu[0])
        fj = (lc - self.lc[0]) / (self.lc[1] - self.lc[0])
        i0 = np.minimum(fi.astype(int), self.lmu.size - 2)
        j0 = np.minimum(fj.astype(int), self.lc.size - 2)
        di, dj = fi - i0, fj - j0
        t = self.tab
        out = (
            (1 - di) * (1 - dj) * t[i0, j0]
            + di * (1 - dj) * t[i0 + 1, j0]
            + (1 - di) * dj * t[i0, j0 + 1]
            + di * dj * t[i0 + 1, j0 + 1]
        )
        return np.where(mu < np.exp(self.lmu[0]), mu * np.log1p(c), out)  # below the grid: linear in mu


@lru_cache(maxsize=1)
def _table() -> _ExpectedLog:
    return _ExpectedLog()


def expected_lognorm(mu: np.ndarray, library: np.ndarray, *, target_sum: float, chunk: int = 4096) -> np.ndarray:
    """``E[log1p(Y / library × target_sum)]`` for ``Y ~ Poisson(mu)`` (spots × genes; spots in chunks).

    What a spot's measured, log-normalised value is expected to be at its depth: at low counts
    it depends on depth (detection does), so it is the scale to compare with a measured
    log-normalised truth, not the depth-free ``X`` CCC uses.
    """
    mu = np.asarray(mu, np.float64)
    c = float(target_sum) / np.maximum(np.asarray(library, np.float64), 1.0)
    out = np.empty_like(mu)
    for start in range(0, mu.shape[0], chunk):
        out[start : start + chunk] = _table()(mu[start : start + chunk], c[start : start + chunk])
    return out


def nb_logpmf(y: np.ndarray, mu: np.ndarray, theta: float | np.ndarray) -> np.ndarray:
    """Log pmf of the negative binomial with mean ``mu`` and size ``theta``."""
    return (
        special.gammaln(y + theta)
        - special.gammaln(theta)
        - special.gammaln(y + 1)
        + theta * np.log(theta / (theta + mu))
        + y * np.log(np.maximum(mu, 1e-300) / (theta + mu))
    )


@dataclass
class Dispersion:
    """Predictive spread, fitted on masked input genes.

    NB size ``theta`` within a gene, and a log-normal gene-level capture ratio (what the spots
    measured vs the prediction) ``log r ~ N(log_r_mean, log_r_sd²)``: median and MAD-based SD
    of the masked genes' log ratios (less their Poisson noise).
    """

    theta: float
    log_r_mean: float
    log_r_sd: float

    @classmethod
    def fit(cls, y: np.ndarray, mu: np.ndarray, *, max_values: int = 200_000, seed: int = 0) -> Dispersion:
        """Fit on spots × masked genes counts ``y`` and their predictions ``mu``."""
        r = (y.sum(0) + 0.5) / (mu.sum(0) + 0.5)
        lr = np.log(r)
        # robust spread (MAD): one gene the reference barely detects must not blow the mixture up
        center = float(np.median(lr))
        mad_sd = 1.4826 * float(np.median(np.abs(lr - center)))
        sd = float(np.sqrt(max(mad_sd**2 - np.median(1.0 / (y.sum(0) + 0.5)), 1e-4)))
        yy, mm = y.ravel(), np.maximum((mu * r[None, :]).ravel(), 1e-9)
        if yy.size > max_values:
            pick = np.random.default_rng(seed).choice(yy.size, max_values, replace=False)
            yy, mm = yy[pick], mm[pick]
        grid = np.geomspace(0.05, 200, 25)
        nll = [-np.mean(nb_logpmf(yy, mm, t)) for t in grid]
        return cls(float(grid[int(np.argmin(nll))]), center, sd)

    def moments(self, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and size of the NB moment-matched to NB(mu r, theta) mixed over the log-normal r."""
        m1 = np.exp(self.log_r_mean + self.log_r_sd**2 / 2)
        m2 = np.exp(2 * self.log_r_mean + 2 * self.log_r_sd**2)
        mean = mu * m1
        var = mu * m1 + mu**2 * (m2 * (1 + 1 / self.theta) - m1**2)
        return mean, np.clip(mean**2 / np.maximum(var - mean, 1e-12), 1e-3, 1e6)

    def to_dict(self) -> dict[str, float]:
        """The three parameters."""
        return asdict(self)


def nb_interval(
    mean: np.ndarray, size: np.ndarray, level: float = 0.9, max_steps: int = 60
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Central ``level`` interval and ``P(Y = 0)`` of NB(mean, size).

    Quantiles by walking the CDF with the pmf recursion ``P(y+1) = P(y) (y + size) / (y + 1) (1 - p)``
    over the values not settled yet (exact); values not settled after ``max_steps`` counts (large
    means) use the normal approximation with the NB mean and variance.
    """
    shape = np.shape(mean)
    mean = np.asarray(mean, np.float64).ravel()
    size = np.asarray(size, np.float64).ravel()
    p = size / (size + np.maximum(mean, 1e-12))
    q_lo, q_hi = (1 - level) / 2, 1 - (1 - level) / 2
    p_zero = np.exp(size * np.log(p))
    lo = np.where(p_zero >= q_lo, 0.0, np.nan)
    hi = np.where(p_zero >= q_hi, 0.0, np.nan)
    act = np.flatnonzero(np.isnan(hi))
    pmf, cdf, sz, q = p_zero[act], p_zero[act].copy(), size[act], 1 - p[act]
    y = 0
    while act.size and y < max_steps:
        pmf = pmf * (y + sz) / (y + 1) * q
        y += 1
        cdf = cdf + pmf
        lo[act[np.isnan(lo[act]) & (cdf >= q_lo)]] = y
        done = cdf >= q_hi
        hi[act[done]] = y
        keep = ~done
        act, pmf, cdf, sz, q = act[keep], pmf[keep], cdf[keep], sz[keep], q[keep]
    for arr, qq in ((lo, q_lo), (hi, q_hi)):
        bad = np.isnan(arr)
        if bad.any():
            sd = np.sqrt(mean[bad] + mean[bad] ** 2 / size[bad])
            arr[bad] = np.maximum(np.round(mean[bad] + stats.norm.ppf(qq) * sd), 0.0)
    return lo.reshape(shape), hi.reshape(shape), p_zero.reshape(shape)
