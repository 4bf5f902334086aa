"""Scales and predictive distribution of the model: expected log-normalised value, NB interval, P(0)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numba
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
        """The table at spots × genes ``mu`` and one ``c`` per spot (row)."""
        mu = np.ascontiguousarray(mu, np.float64)
        out = np.empty(mu.shape, np.float64)
        if mu.size:
            _bilinear(mu, np.asarray(c, np.float64).ravel(), self.lmu, self.lc, self.tab, out)
        return out


@numba.njit(cache=True, parallel=True, nogil=True)
def _bilinear(
    mu: np.ndarray, c: np.ndarray, lmu: np.ndarray, lc: np.ndarray, tab: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled
    """Bilinear interpolation of ``tab`` in ``(log mu, log c)``, clipped to the grid; linear in ``mu`` below it."""
    n_mu, n_c = lmu.size, lc.size
    d_mu, d_c = lmu[1] - lmu[0], lc[1] - lc[0]
    mu_min = np.exp(lmu[0])
    for r in numba.prange(mu.shape[0]):
        cr = c[r]
        lcr = min(max(np.log(max(cr, 1e-300)), lc[0]), lc[n_c - 1])
        fj = (lcr - lc[0]) / d_c
        j0 = min(int(fj), n_c - 2)
        dj = fj - j0
        low = np.log1p(cr)
        for g in range(mu.shape[1]):
            m = mu[r, g]
            if m != m:  # NaN stays NaN (never an index)
                out[r, g] = m
                continue
            if m < mu_min:
                out[r, g] = m * low
                continue
            lm = min(max(np.log(m), lmu[0]), lmu[n_mu - 1])
            fi = (lm - lmu[0]) / d_mu
            i0 = min(int(fi), n_mu - 2)
            di = fi - i0
            out[r, g] = (
                (1 - di) * (1 - dj) * tab[i0, j0]
                + di * (1 - dj) * tab[i0 + 1, j0]
                + (1 - di) * dj * tab[i0, j0 + 1]
                + di * dj * tab[i0 + 1, j0 + 1]
            )


@lru_cache(maxsize=1)
def _table() -> _ExpectedLog:
    return _ExpectedLog()


def expected_lognorm(mu: np.ndarray, library: np.ndarray, *, target_sum: float) -> np.ndarray:
    """``E[log1p(Y / library × target_sum)]`` for ``Y ~ Poisson(mu)`` (spots × genes).

    What a spot's measured, log-normalised value is expected to be at its depth: at low counts
    it depends on depth (detection does), so it is the scale to compare with a measured
    log-normalised truth, not the depth-free ``X`` CCC uses. Tabulated once on a grid of
    ``(mu, target_sum / library)`` and interpolated (compiled, spots in parallel).
    """
    c = float(target_sum) / np.maximum(np.asarray(library, np.float64), 1.0)
    return _table()(mu, c)


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
        mu = np.ascontiguousarray(mu, np.float64)
        mean, size = np.empty_like(mu), np.empty_like(mu)
        _nb_moments(mu.ravel(), m1, m2 * (1 + 1 / self.theta) - m1**2, mean.ravel(), size.ravel())
        return mean, size

    def to_dict(self) -> dict[str, float]:
        """The three parameters."""
        return asdict(self)


def nb_interval(
    mean: np.ndarray, size: np.ndarray, level: float = 0.9, max_steps: int = 60
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Central ``level`` interval and ``P(Y = 0)`` of NB(mean, size).

    Quantiles by walking the CDF with the pmf recursion ``P(y+1) = P(y) (y + size) / (y + 1) (1 - p)``
    (exact; compiled, values in parallel); values not settled after ``max_steps`` counts (large
    means) use the normal approximation with the NB mean and variance.
    """
    shape = np.shape(mean)
    mean = np.ascontiguousarray(mean, np.float64).ravel()
    size = np.ascontiguousarray(size, np.float64).ravel()
    q_lo, q_hi = (1 - level) / 2, 1 - (1 - level) / 2
    lo, hi, p_zero = (np.empty(mean.size, np.float64) for _ in range(3))
    _nb_walk(mean, size, q_lo, q_hi, int(max_steps), float(stats.norm.ppf(q_lo)), float(stats.norm.ppf(q_hi)),
             lo, hi, p_zero)  # fmt: skip
    return lo.reshape(shape), hi.reshape(shape), p_zero.reshape(shape)


@numba.njit(cache=True, parallel=True, nogil=True)
def _nb_walk(
    mean: np.ndarray,
    size: np.ndarray,
    q_lo: float,
    q_hi: float,
    max_steps: int,
    z_lo: float,
    z_hi: float,
    lo: np.ndarray,
    hi: np.ndarray,
    p_zero: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """:func:`nb_interval` value by value (see there)."""
    for i in numba.prange(mean.size):
        m, sz = mean[i], size[i]
        p = sz / (sz + max(m, 1e-12))
        pz = np.exp(sz * np.log(p))
        p_zero[i] = pz
        low = 0.0 if pz >= q_lo else np.nan
        high = 0.0 if pz >= q_hi else np.nan
        if np.isnan(high):
            pmf, cdf, q = pz, pz, 1 - p
            y = 0
            while y < max_steps:
                pmf = pmf * (y + sz) / (y + 1) * q
                y += 1
                cdf = cdf + pmf
                if np.isnan(low) and cdf >= q_lo:
                    low = float(y)
                if cdf >= q_hi:
                    high = float(y)
                    break
        if np.isnan(low) or np.isnan(high):
            sd = np.sqrt(m + m**2 / sz)
            if np.isnan(low):
                low = max(np.rint(m + z_lo * sd), 0.0)
            if np.isnan(high):
                high = max(np.rint(m + z_hi * sd), 0.0)
        lo[i], hi[i] = low, high


@numba.njit(cache=True, parallel=True, nogil=True)
def _nb_moments(  # pragma: no cover - compiled
    mu: np.ndarray, m1: float, excess: float, mean: np.ndarray, size: np.ndarray
) -> None:
    """:meth:`Dispersion.moments` value by value: ``mean = mu m1``, ``var = mean + mu² excess``, size clipped."""
    for i in numba.prange(mu.size):
        m = mu[i] * m1
        var = mu[i] * m1 + mu[i] ** 2 * excess
        mean[i] = m
        size[i] = min(max(m**2 / max(var - m, 1e-12), 1e-3), 1e6)
