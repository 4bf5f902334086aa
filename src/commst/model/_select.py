"""Per-run selection on masked spot input genes: the run's built-in held-out check.

``mask_rounds`` times, ``mask_frac`` of the input genes are hidden from (at most
``max_select_spots``) spots and imputed from the rest with every setting of the grid; the
median per-gene PCC against what the spots measured decides, per scale, which setting the run
uses (the default unless another beats it by more than ``select_delta``). The same rounds fit
the predictive dispersion, each target's reliability (agreement of its predictions across the
rounds) and the quality table (per held-out input gene PCC of the chosen setting, and of a
baseline on the same genes, scored on at most ``max_baseline_spots`` of the spots).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._utils import pcc
from ..pp import lognorm
from ..tl.methods.spage import neighbour_weights
from ._config import CommSTConfig, Setting
from ._mixture import MatchedCells, MixtureWeights, mixture_weights
from ._predictive import Dispersion, expected_lognorm
from ._search import NeighbourIndex
from ._space import matching_space
from ._sparse import dense_product
from ._threads import compiled_phase

logger = logging.getLogger(__name__)

#: Scales a setting is chosen for: ``counts`` (expected counts) and ``lognorm`` (log-normalised).
SCALES = ("counts", "lognorm")

#: ``baseline(spots, visible, masked) -> spots × masked`` expected counts of a peer, for the quality table.
Baseline = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass
class SpotWeights:
    """Spots × cells weights of each component for a set of spots (``weights @ counts / ...`` predicts).

    Attributes
    ----------
    mixture
        ``k_within`` → group weights of the matched single-cell mixture under every alpha.
    knn
        Weights of the global PV-kNN mean (SpaGE weights over the cells' depths).
    knn_type
        Each spot's type code with the largest summed kNN weight.
    """

    mixture: dict[int, MixtureWeights]
    knn: sp.csr_matrix
    knn_type: np.ndarray

    def components(self, counts: sp.csr_matrix, chunk: int, n_pv: int, *, knn: bool = True) -> Components:
        """Each component's shares of ``counts``' genes for these spots (``weights @ counts``, float64).

        The mixture's groups are pooled once for all its alphas (:meth:`MixtureWeights.shares`);
        ``knn=False`` skips the PV-kNN product (``Components.knn`` is then None: no setting with
        ``beta < 1`` can be read).
        """
        mixture = {(a, k): share for k, mix in self.mixture.items() for a, share in mix.shares(counts, chunk).items()}
        knn_shares = dense_product(self.knn, counts) if knn else None
        return Components(mixture, knn_shares, self.knn_type, n_pv)


@dataclass
class FittedModel:
    """The model on one set of input genes: the spots' matching-space coordinates, neighbour index and priors.

    :meth:`weights` then gives any spots' component weights, chunk by chunk, so predicting
    all spots never holds more than a chunk's neighbours and profiles.
    """

    spots: np.ndarray  # the matching space's spots (the cells' coordinates live in the index)
    n_pv: int
    index: NeighbourIndex
    y: sp.csr_matrix
    ref_in: sp.csr_matrix
    depth: np.ndarray
    codes: np.ndarray
    n_types: int
    cfg: CommSTConfig
    need: dict[int, list[float]]
    priors: dict[int, np.ndarray | None]
    gene_weights: np.ndarray | None = None

    def weights(self, spots: np.ndarray) -> SpotWeights:
        """Component weights of ``spots`` (indices into the fitted spots)."""
        with compiled_phase():
            return self._weights(spots)

    def _weights(self, spots: np.ndarray) -> SpotWeights:
        cfg, T = self.cfg, self.n_types
        nb = self.index.query(self.spots[spots])
        dist, idx = nb.nearest(cfg.k_knn)
        w = neighbour_weights(dist)
        n = idx.shape[0]
        rows = np.repeat(np.arange(n), idx.shape[1])
        knn = sp.csr_matrix(
            ((w / np.maximum(self.depth[idx], 1e-12)).ravel(), (rows, idx.ravel())), shape=(n, self.depth.size)
        )
        votes = np.bincount(rows * T + self.codes[idx].ravel(), weights=w.ravel(), minlength=n * T)
        y = self.y[spots].toarray().astype(np.float64)
        mixture = {}
        for k, alphas in self.need.items():
            matched = MatchedCells(nb, self.codes, T, k, cfg.neighbourhood, cfg.k_global, cfg.max_type_share)
            _, mixture[k] = mixture_weights(
                matched, y, self.ref_in, self.depth, alphas=alphas, n_iter=cfg.n_iter, n_iter_map=cfg.n_iter_map,
                chunk=cfg.chunk, prior=self.priors[k], gene_weights=self.gene_weights,
            )  # fmt: skip
        return SpotWeights(mixture, knn, votes.reshape(n, T).argmax(1))

    def chunks(self) -> list[np.ndarray]:
        """The fitted spots in chunks of ``predict_chunk``."""
        S = self.y.shape[0]
        return [np.arange(s, min(S, s + self.cfg.predict_chunk)) for s in range(0, S, self.cfg.predict_chunk)]


def fit_model(
    sp_in: sp.csr_matrix,
    ref_in: sp.csr_matrix,
    codes: np.ndarray,
    n_types: int,
    cfg: CommSTConfig,
    settings: list[Setting],
    *,
    rng: np.random.Generator,
    seed: int,
    gene_weights: np.ndarray | None = None,
    prior_spots: int = 2000,
) -> FittedModel:
    """Matching space, neighbour index and Dirichlet priors for the spots ``sp_in`` and what ``settings`` need.

    The prior's mean weights ``pbar`` (per ``k_within``) are the mean maximum-likelihood weights
    of at most ``prior_spots`` spots drawn with ``rng``.
    """
    space = matching_space(sp_in, ref_in, n_pv=cfg.n_pv, min_cosine=cfg.min_cosine, thin=cfg.thin, rng=rng, seed=seed)
    need: dict[int, list[float]] = {}
    for a, b, k in settings:
        if b > 0:
            need.setdefault(int(k), [])
            if a not in need[int(k)]:
                need[int(k)].append(float(a))
    need = {k: sorted(v) for k, v in sorted(need.items())}
    depth_needed = max([cfg.k_knn, *need] + ([cfg.k_global] if cfg.neighbourhood == "global" else []))
    index = NeighbourIndex(
        space.cells, codes, n_types, depth_needed, method=cfg.search, n_spots=sp_in.shape[0], n_probe=cfg.n_probe,
        cluster_cells=cfg.cluster_cells, seed=seed,
    )  # fmt: skip
    depth = np.asarray(ref_in.sum(1)).ravel().astype(np.float64)
    ref32 = sp.csr_matrix(ref_in, dtype=np.float32)
    y32 = sp.csr_matrix(sp_in, dtype=np.float32)  # counts: exact in float32, kept for every chunk's EM
    model = FittedModel(space.spots, space.n_pv, index, y32, ref32, depth, codes, n_types, cfg, need, {}, gene_weights)
    S = sp_in.shape[0]
    for k, alphas in need.items():
        model.priors[k] = None
        if any(a > 0 for a in alphas):
            pilot = np.sort(rng.choice(S, min(S, prior_spots), replace=False))
            with compiled_phase():
                nb = index.query(space.spots[pilot])
                matched = MatchedCells(nb, codes, n_types, k, cfg.neighbourhood, cfg.k_global, cfg.max_type_share)
                ml, _ = mixture_weights(
                    matched, sp_in[pilot].toarray(), ref32, depth, alphas=[0.0], n_iter=cfg.n_iter, n_iter_map=0,
                    chunk=cfg.chunk, gene_weights=gene_weights,
                )  # fmt: skip
            prior = ml.mean(0)
            model.priors[k] = prior / max(prior.sum(), 1e-12)
    return model


@dataclass
class Components:
    """Shares of the output genes from each component, for one set of visible input genes.

    Attributes
    ----------
    mixture
        ``(alpha, k_within)`` → spots × genes shares of the matched single-cell mixture.
    knn
        Spots × genes shares of the global PV-kNN mean (None where no setting needs it).
    knn_type
        Each spot's type code with the largest summed kNN weight.
    n_pv
        Principal vectors of the matching space.
    """

    mixture: dict[tuple[float, int], np.ndarray]
    knn: np.ndarray | None
    knn_type: np.ndarray
    n_pv: int

    def share(self, setting: Setting, cols: slice = slice(None)) -> np.ndarray:
        """Shares of the genes ``cols`` under ``(alpha, beta, k_within)``."""
        alpha, beta, k = setting
        if beta <= 0:
            return self.knn[:, cols]
        mix = self.mixture[(alpha, k)][:, cols]
        return mix if beta >= 1 else beta * mix + (1 - beta) * self.knn[:, cols]


def components(
    sp_in: sp.csr_matrix,
    ref_in: sp.csr_matrix,
    ref_out: sp.csr_matrix,
    codes: np.ndarray,
    n_types: int,
    cfg: CommSTConfig,
    settings: list[Setting],
    *,
    rng: np.random.Generator,
    seed: int,
    gene_weights: np.ndarray | None = None,
) -> Components:
    """The components that ``settings`` need, for spots ``sp_in`` and output genes ``ref_out`` (dense, all spots)."""
    model = fit_model(sp_in, ref_in, codes, n_types, cfg, settings, rng=rng, seed=seed, gene_weights=gene_weights)
    out = sp.csr_matrix(ref_out, dtype=np.float32)
    parts = [model.weights(spots) for spots in model.chunks()]
    with compiled_phase():
        comps = [p.components(out, cfg.chunk, model.n_pv) for p in parts]
    return Components(
        {key: np.vstack([c.mixture[key] for c in comps]) for key in comps[0].mixture},
        np.vstack([c.knn for c in comps]),
        np.concatenate([c.knn_type for c in comps]),
        model.n_pv,
    )


@dataclass
class Selection:
    """What the masked rounds decided and measured.

    Attributes
    ----------
    table
        One row per scale and setting: ``scale, alpha, beta, k_within, median_pcc`` (mean over rounds).
    chosen
        Scale → the setting used.
    dispersion
        The predictive dispersion, fitted at the counts-scale setting.
    reliability
        Per target gene, mean PCC between its predictions in different rounds (NaN for one round).
    quality
        Per held-out input gene and round: ``round, gene, pcc_counts, pcc_lognorm`` of the model
        and ``baseline_pcc_counts``, ``baseline_pcc_lognorm`` of the baseline (when given).
    seconds
        Time the rounds took.
    """

    table: pd.DataFrame
    chosen: dict[str, Setting]
    dispersion: Dispersion
    reliability: np.ndarray
    quality: pd.DataFrame
    seconds: float


def choose(
    table: pd.DataFrame, scale: str, cfg: CommSTConfig, allowed: Callable[[Setting], bool] | None = None
) -> Setting:
    """The setting for ``scale``: the default unless another (``allowed``) beats it by more than ``select_delta``."""
    sub = table[table["scale"] == scale].set_index(["alpha", "beta", "k_within"])["median_pcc"]
    if allowed is not None:
        sub = sub[[allowed(s) for s in sub.index]]
    default = cfg.default if cfg.default[1] > 0 else (cfg.alphas[0], 0.0, cfg.k_withins[0])
    if not cfg.select and default in sub.index:
        return default
    top = sub.idxmax()
    if default in sub.index and sub[top] - sub[default] <= cfg.select_delta:
        return default
    return (float(top[0]), float(top[1]), int(top[2]))


def select_on_masked_genes(
    sp_in: sp.csr_matrix,
    ref_in: sp.csr_matrix,
    ref_t: sp.csr_matrix,
    codes: np.ndarray,
    n_types: int,
    library: np.ndarray,
    cfg: CommSTConfig,
    *,
    seed: int,
    target_sum: float,
    gene_weights: Callable[[np.ndarray], np.ndarray | None] | None = None,
    baseline: Baseline | None = None,
) -> Selection:
    """Run the masked rounds (see the module docstring).

    Parameters
    ----------
    sp_in, ref_in, ref_t
        Spot and reference input-gene counts, reference target counts (CSR).
    codes, n_types
        Reference cell-type codes and their number.
    library
        Spots' full library sizes (the log-normalisation of the lognorm scale).
    cfg
        Settings.
    seed
        Seed of the masks, spot subsample, thinning and prior pilot.
    target_sum
        Library size of the log-normalisation.
    gene_weights
        ``visible input-gene indices -> likelihood weights`` (``None``: unweighted).
    baseline
        Peer whose held-out PCC the quality table reports next to the model's (on at most
        ``max_baseline_spots`` of the rounds' spots).
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    n_in = sp_in.shape[1]
    spots = np.arange(sp_in.shape[0])
    if spots.size > cfg.max_select_spots:
        spots = np.sort(rng.choice(spots.size, cfg.max_select_spots, replace=False))
    lib = library[spots]
    base = np.arange(spots.size)  # the baseline's spots (positions among ``spots``)
    if base.size > cfg.max_baseline_spots:
        base = np.sort(np.random.default_rng(seed + 1).choice(base.size, cfg.max_baseline_spots, replace=False))
    grid = cfg.grid() if cfg.select else sorted({cfg.default, (cfg.alphas[0], 0.0, cfg.k_withins[0])})
    rows, rounds, quality = [], [], []
    for r in range(cfg.mask_rounds):
        perm = rng.permutation(n_in)
        m = max(1, min(n_in - 2, int(round(cfg.mask_frac * n_in))))
        masked, visible = np.sort(perm[:m]), np.sort(perm[m:])
        vis = sp_in[spots][:, visible]
        out = sp.hstack([ref_in[:, masked], ref_t]).tocsr()
        weights = gene_weights(visible) if gene_weights is not None else None
        comp = components(
            vis, ref_in[:, visible], out, codes, n_types, cfg, grid, rng=rng, seed=seed + r, gene_weights=weights
        )
        depth = np.asarray(vis.sum(1)).ravel()
        y = sp_in[spots][:, masked].toarray()
        t_log = lognorm(y, lib, target_sum=target_sum)
        for setting in grid:
            mu = comp.share(setting, slice(0, m)) * depth[:, None]
            rows.append(("counts", *setting, r, np.nanmedian(pcc(y, mu))))
            e_log = expected_lognorm(mu, lib, target_sum=target_sum)
            rows.append(("lognorm", *setting, r, np.nanmedian(pcc(t_log, e_log))))
        rounds.append((masked, visible, y, t_log, depth, m, comp))
    columns = ["scale", "alpha", "beta", "k_within", "round", "median_pcc"]
    tab = pd.DataFrame(rows, columns=columns).groupby(columns[:4], as_index=False)["median_pcc"].mean()
    chosen = {s: choose(tab, s, cfg) for s in SCALES}

    y_all, mu_all, target_log = [], [], []
    for r, (masked, visible, y, t_log, depth, m, comp) in enumerate(rounds):
        mu_c = comp.share(chosen["counts"], slice(0, m)) * depth[:, None]
        mu_l = comp.share(chosen["lognorm"], slice(0, m)) * depth[:, None]
        y_all.append(y)
        mu_all.append(mu_c)
        target_log.append(
            expected_lognorm(comp.share(chosen["lognorm"], slice(m, None)) * depth[:, None], lib, target_sum=target_sum)
        )
        q = pd.DataFrame(
            {
                "round": r,
                "gene_index": masked,
                "pcc_counts": pcc(y, mu_c),
                "pcc_lognorm": pcc(t_log, expected_lognorm(mu_l, lib, target_sum=target_sum)),
            }
        )
        if baseline is not None:
            b = np.asarray(baseline(spots[base], visible, masked), np.float64)
            q["baseline_pcc_counts"] = pcc(y[base], b)
            q["baseline_pcc_lognorm"] = pcc(t_log[base], lognorm(b, lib[base], target_sum=target_sum))
        quality.append(q)
    dispersion = Dispersion.fit(np.hstack(y_all), np.hstack(mu_all), seed=seed)
    n_t = ref_t.shape[1]
    if len(target_log) > 1:
        pairs = [
            pcc(target_log[i], target_log[j]) for i in range(len(target_log)) for j in range(i + 1, len(target_log))
        ]
        stacked = np.vstack(pairs)
        ok = np.isfinite(stacked)
        reliability = np.where(ok.any(0), np.where(ok, stacked, 0).sum(0) / np.maximum(ok.sum(0), 1), np.nan)
    else:
        reliability = np.full(n_t, np.nan)
    return Selection(
        tab, chosen, dispersion, reliability, pd.concat(quality, ignore_index=True), time.perf_counter() - t0
    )
