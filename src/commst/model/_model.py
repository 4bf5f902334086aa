"""The CommST model's entry point: select on masked spot genes, fit, predict, predictive distribution."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._constants import Keys
from ..pp import counts_matrix, library_size, target_sum_of
from ..tl._types import ImputationResult
from ..tl.methods._common import check_genes
from ._config import CommSTConfig
from ._predictive import expected_lognorm, nb_interval
from ._select import Baseline, FittedModel, Selection, fit_model, select_on_masked_genes
from ._threads import compiled_phase
from ._weights import lr_gene_weights

logger = logging.getLogger(__name__)


def _knn_baseline(spatial: ad.AnnData, reference: ad.AnnData, input_genes: list[str], seed: int) -> Baseline:
    """The ``knn`` method on the same masked genes (the quality table's reference)."""
    from ..tl.methods import get_meta

    meta = get_meta("knn")

    def baseline(spots: np.ndarray, visible: np.ndarray, masked: np.ndarray) -> np.ndarray:
        vis = [input_genes[i] for i in visible]
        res = meta.function()(
            spatial[spots, vis],
            reference,
            targets=[input_genes[i] for i in masked],
            input_genes=vis,
            seed=seed,
            **dict(meta.defaults),
        )
        return res.counts

    return baseline


def _select_and_fit(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    targets: list[str],
    input_genes: list[str],
    cfg: CommSTConfig,
    seed: int,
    gene_weights: np.ndarray | None,
    quality_baseline: bool,
    library: np.ndarray,
    target_sum: float,
) -> tuple[pd.Index, Selection, FittedModel, sp.csr_matrix, np.ndarray]:
    """Masked rounds, then the model on all input genes.

    Returns the cell types (codes are their positions), the selection, the fitted model, the
    reference's target counts (float32 CSR, what predictions are applied to) and the spots' depth
    over the input genes. The float64 copies of the counts live only here: they are freed before
    the outputs are allocated (at 10^5 spots × 10^5 cells ≈ 0.5 GB).
    """
    sp_in = counts_matrix(spatial[:, input_genes]).astype(np.float64).tocsr()
    ref_in = counts_matrix(reference[:, input_genes]).astype(np.float64).tocsr()
    ref_t = counts_matrix(reference[:, targets]).astype(np.float64).tocsr()
    codes, types = pd.factorize(reference.obs[Keys.obs.cell_type].astype(str).to_numpy())
    depth = np.asarray(sp_in.sum(1)).ravel()

    given = None if gene_weights is None else np.asarray(gene_weights, np.float64)
    if given is not None and given.shape != (len(input_genes),):
        raise ValueError(f"commst: gene_weights has shape {given.shape}, expected ({len(input_genes)},)")

    def weights_of(visible: np.ndarray) -> np.ndarray | None:
        """Likelihood weights of the visible input genes (mean 1), or None."""
        w = lr_gene_weights(ref_in[:, visible], ref_t) if cfg.lr_weighting else np.ones(visible.size)
        if given is not None:
            w = w * given[visible]
        return w / w.mean() if w.mean() > 0 else None

    use_weights = cfg.lr_weighting or given is not None

    baseline = _knn_baseline(spatial, reference, input_genes, seed) if quality_baseline else None
    sel = select_on_masked_genes(
        sp_in,
        ref_in,
        ref_t,
        codes,
        types.size,
        library,
        cfg,
        seed=seed,
        target_sum=target_sum,
        gene_weights=weights_of if use_weights else None,
        baseline=baseline,
    )
    logger.info("commst: settings (alpha, beta, k_within) chosen on masked genes: %s", sel.chosen)
    rng = np.random.default_rng(seed + 7919)
    weights = weights_of(np.arange(len(input_genes))) if use_weights else None
    model = fit_model(
        sp_in, ref_in, codes, types.size, cfg, sorted(set(sel.chosen.values())), rng=rng, seed=seed,
        gene_weights=weights,
    )  # fmt: skip
    out = sp.csr_matrix(ref_t, dtype=np.float32)  # counts: exact in float32, half the bytes to read
    return types, sel, model, out, depth


def impute_commst(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    *,
    targets: Sequence[str],
    input_genes: Sequence[str],
    seed: int = 0,
    config: CommSTConfig | None = None,
    gene_weights: np.ndarray | None = None,
    quality_baseline: bool = True,
    **params: Any,
) -> ImputationResult:
    """Impute ``targets`` for every spot with the CommST model (:mod:`commst.model`).

    Parameters
    ----------
    spatial, reference
        Prepared pair (:func:`commst.pp.prepare`): raw counts in ``layers['counts']``,
        ``reference.obs['cell_type']``.
    targets
        Genes to impute (reference genes).
    input_genes
        Genes measured in both (the likelihood and the matching space).
    seed
        Seed of the masked rounds, the thinning and the prior pilot.
    config
        Settings; ``params`` naming :class:`CommSTConfig` fields override them.
    gene_weights
        Per input gene likelihood weights (e.g. :func:`commst.model.ppi_gene_weights` or
        :func:`commst.model.nichenet_gene_weights`, the priors as guidance; both measured
        without a gain, so off by default; README), multiplied with ``lr_weighting``'s.
    quality_baseline
        Also score the ``knn`` method on the masked genes (the quality table's reference).

    Returns
    -------
    :class:`commst.tl.ImputationResult`:

    - ``counts``: expected counts at the spot's depth (the counts-scale setting);
    - ``uncertainty``: SD of the predictive distribution (counts);
    - ``guard``: predictive ``P(0) >= guard_p`` (flagged, not zeroed);
    - ``labels``: the type with the largest weight among the spot's nearest single cells (a label);
    - ``layers``: ``expected_lognorm`` (``E[log1p(Y / library × target_sum)]``, the lognorm-scale
      setting), ``lo``/``hi`` (central ``interval`` of the predictive, counts), ``p_zero``;
    - ``var``: ``reliability`` (agreement of the targets' predictions across mask rounds);
    - ``extra``: ``selection`` (the grid's held-out scores), ``chosen``, ``dispersion``,
      ``quality`` (per held-out input gene PCC, model and knn), ``n_pv``, timings.
    """
    t0 = time.perf_counter()
    cfg = (config or CommSTConfig()).replace(**params) if params else (config or CommSTConfig())
    targets, input_genes = check_genes(spatial, reference, targets, input_genes, "commst")
    target_sum = target_sum_of(spatial)
    library = library_size(spatial).astype(np.float64)
    types, sel, model, out, depth = _select_and_fit(
        spatial, reference, targets, input_genes, cfg, seed, gene_weights, quality_baseline, library, target_sum
    )
    chosen = sel.chosen
    S, n_t = depth.size, out.shape[1]
    counts, e_log, sd, lo, hi, p_zero = (np.empty((S, n_t), np.float32) for _ in range(6))
    knn_type = np.empty(S, np.int64)
    with compiled_phase():  # the compiled loops take the cores (BLAS on one thread)
        for spots in model.chunks():  # neighbours, weights and the predictive chunk by chunk (bounds memory)
            w = model.weights(spots)
            knn_type[spots] = w.knn_type
            comp = w.components(out, cfg.chunk, model.n_pv, knn=any(b < 1 for _, b, _ in chosen.values()))
            mu = comp.share(chosen["counts"]) * depth[spots, None]
            mu_log = comp.share(chosen["lognorm"]) * depth[spots, None]
            counts[spots] = mu
            e_log[spots] = expected_lognorm(mu_log, library[spots], target_sum=target_sum)
            mean, size = sel.dispersion.moments(mu)
            sd[spots] = np.sqrt(mean + mean**2 / size)
            lo[spots], hi[spots], p_zero[spots] = nb_interval(mean, size, cfg.interval)
    t_fit = time.perf_counter()

    # the label: the cell type with the largest SpaGE weight among the spot's nearest single cells
    # (the mixture's dominant group is mostly the most abundant type, e.g. B cells on 244 of 250
    # lymph-node spots, which leaves label-level CCC one group)
    labels = pd.Series(pd.Categorical(np.asarray(types)[knn_type]), index=spatial.obs_names)
    quality = sel.quality.assign(gene=[input_genes[i] for i in sel.quality["gene_index"]]).drop(columns="gene_index")
    return ImputationResult(
        counts=counts,
        targets=targets,
        uncertainty=sd,
        guard=p_zero >= cfg.guard_p,
        labels=labels,
        layers={
            Keys.layers.expected_lognorm: e_log,
            Keys.layers.lo: lo,
            Keys.layers.hi: hi,
            Keys.layers.p_zero: p_zero,
        },
        var={Keys.var.reliability: sel.reliability},
        extra={
            "chosen": {s: list(v) for s, v in chosen.items()},
            "selection": sel.table.to_dict(orient="list"),
            "quality": quality.to_dict(orient="list"),
            "dispersion": sel.dispersion.to_dict(),
            "config": cfg.to_dict(),
            "n_pv": model.n_pv,
            "search": model.index.method,
            "select_seconds": round(sel.seconds, 3),
            "fit_seconds": round(t_fit - t0 - sel.seconds, 3),
        },
    )


def quality_table(result: ImputationResult) -> pd.DataFrame:
    """The run's built-in held-out check as a table (``extra['quality']``; empty for other methods)."""
    q = result.extra.get("quality")
    return pd.DataFrame(q) if q else pd.DataFrame(columns=["round", "gene", "pcc_counts", "pcc_lognorm"])


__all__ = ["impute_commst", "quality_table"]
