"""The built-in held-out check for any registered method (``results/{sample}/{method}/quality.tsv``).

The commst model runs its own check while it chooses its settings (:mod:`commst.model._select`).
Every other method gets the same check here: ``rounds`` times, a seeded share ``frac`` of the
measured input genes is hidden from the spots, the method imputes them from the remaining input
genes, and each hidden gene's prediction is correlated (PCC across spots) with what the spots
measured, on both scales of the model's table:

``pcc_counts``   the method's expected counts at the spot's depth against the raw counts;
``pcc_lognorm``  both log-normalised by the spot's full library (:func:`commst.pp.lognorm`).

``baseline_pcc_*`` score the ``knn`` method (its defaults) on the same hidden genes, as in the
model's table; for ``knn`` itself they are its own numbers. The masks are drawn as the model
draws them (same seed, same spot cap, same share): round 0 hides the same genes from the same
spots as the model's round 0; later rounds differ, because the model's generator also draws its
fits between rounds.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from .._utils import pcc
from ..model import CommSTConfig
from ..pp import counts_matrix, library_size, lognorm, target_sum_of
from ._types import ImputationResult
from .methods import MethodMeta, get_meta

logger = logging.getLogger(__name__)

#: Columns of the quality table, as the model writes them (``results/{sample}/{method}/quality.tsv``).
QUALITY_COLUMNS: tuple[str, ...] = (
    "round",
    "pcc_counts",
    "pcc_lognorm",
    "baseline_pcc_counts",
    "baseline_pcc_lognorm",
    "gene",
)

#: Rounds of the check (``impute: heldout_rounds:``'s default; ``tests/test_config.py`` keeps them equal).
DEFAULT_HELDOUT_ROUNDS: int = CommSTConfig.mask_rounds

#: The method the check's baseline columns score.
BASELINE_METHOD = "knn"


def heldout_masks(
    n_spots: int,
    n_input: int,
    *,
    rounds: int = DEFAULT_HELDOUT_ROUNDS,
    frac: float = CommSTConfig.mask_frac,
    seed: int = 0,
    max_spots: int = CommSTConfig.max_select_spots,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The spots scored and, per round, the indices of the hidden input genes (sorted).

    Drawn as the model's selection draws them: at most ``max_spots`` spots, then per round a
    permutation of the input genes whose first ``max(1, min(n_input - 2, round(frac × n_input)))``
    are hidden (so at least 2 stay visible).
    """
    rng = np.random.default_rng(seed)
    spots = np.arange(n_spots)
    if n_spots > max_spots:
        spots = np.sort(rng.choice(n_spots, max_spots, replace=False))
    m = max(1, min(n_input - 2, int(round(frac * n_input))))
    return spots, [np.sort(rng.permutation(n_input)[:m]) for _ in range(rounds)]


def _predict(
    meta: MethodMeta,
    settings: Mapping[str, Any],
    *,
    spatial: ad.AnnData,
    reference: ad.AnnData,
    targets: list[str],
    input_genes: list[str],
    seed: int,
) -> np.ndarray:
    """``meta``'s method called as the impute step calls it; its expected counts of ``targets`` (spots × targets)."""
    res = meta.function()(spatial, reference, targets=targets, input_genes=input_genes, seed=seed, **settings)
    return pd.DataFrame(res.counts, columns=res.targets)[list(targets)].to_numpy()


def _scores(truth: np.ndarray, counts: np.ndarray, library: np.ndarray, target_sum: float) -> dict[str, np.ndarray]:
    """Per-gene PCC on the counts scale and depth-free (both log-normalised by the full library)."""
    counts = np.asarray(counts, np.float64)
    return {
        "pcc_counts": pcc(truth, counts),
        "pcc_lognorm": pcc(
            lognorm(truth, library, target_sum=target_sum), lognorm(counts, library, target_sum=target_sum)
        ),
    }


def heldout_check(
    method: str,
    spatial: ad.AnnData,
    reference: ad.AnnData,
    *,
    input_genes: Sequence[str],
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
    rounds: int = DEFAULT_HELDOUT_ROUNDS,
    frac: float = CommSTConfig.mask_frac,
) -> pd.DataFrame:
    """Hide measured input genes, impute them with ``method``, score them against the spots (module docstring).

    Parameters
    ----------
    method
        A registered method (:data:`commst.tl.REGISTRY`), called as the impute step calls it.
    spatial, reference
        The prepared pair (:func:`commst.pp.prepare`): raw counts in ``layers['counts']``.
    input_genes
        The run's input genes (measured in both); the hidden ones are drawn from them.
    seed
        Seed of the masks and of the method.
    params
        The method's settings (its defaults where not given).
    rounds
        Rounds of the check (0: the empty table).
    frac
        Share of the input genes hidden per round.

    Returns
    -------
    One row per hidden gene and round, with :data:`QUALITY_COLUMNS`: ``round``, ``gene``,
    ``pcc_counts``, ``pcc_lognorm`` of ``method`` and ``baseline_pcc_counts``,
    ``baseline_pcc_lognorm`` of ``knn`` on the same genes. A gene constant over the scored spots
    gets NaN.
    """
    meta = get_meta(method)
    settings = {**meta.defaults, **dict(params or {})}
    inputs = [str(g) for g in input_genes]
    if rounds <= 0:
        return pd.DataFrame(columns=list(QUALITY_COLUMNS))
    spots, masks = heldout_masks(spatial.n_obs, len(inputs), rounds=rounds, frac=frac, seed=seed)
    spatial = spatial[spots]
    library, target_sum = library_size(spatial), target_sum_of(spatial)
    peer = get_meta(BASELINE_METHOD)
    tables = []
    for r, masked in enumerate(masks):
        hidden = [inputs[i] for i in masked]
        gone = set(hidden)
        visible = [g for g in inputs if g not in gone]
        # the hidden genes leave the spatial data entirely: no method can read them back
        sp_vis = spatial[:, [g for g in spatial.var_names if g not in gone]].copy()
        truth = counts_matrix(spatial[:, hidden]).toarray().astype(np.float64)
        call = {"spatial": sp_vis, "reference": reference, "targets": hidden, "input_genes": visible, "seed": seed}
        ours = _scores(truth, _predict(meta, settings, **call), library, target_sum)
        base = (
            ours
            if method == BASELINE_METHOD
            else _scores(truth, _predict(peer, peer.defaults, **call), library, target_sum)
        )
        table = pd.DataFrame({"round": r, **ours, **{f"baseline_{k}": v for k, v in base.items()}, "gene": hidden})
        logger.info(
            "held-out check round %d: %s median PCC %.3f (counts) / %.3f (depth-free) over %d hidden input genes",
            r, method, np.nanmedian(ours["pcc_counts"]), np.nanmedian(ours["pcc_lognorm"]), len(hidden),
        )  # fmt: skip
        tables.append(table)
    return pd.concat(tables, ignore_index=True)[list(QUALITY_COLUMNS)]


def with_heldout_check(
    result: ImputationResult,
    method: str,
    spatial: ad.AnnData,
    reference: ad.AnnData,
    *,
    input_genes: Sequence[str],
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
    rounds: int = DEFAULT_HELDOUT_ROUNDS,
) -> ImputationResult:
    """``result`` with the held-out check in ``extra['quality']``, unless the method ran its own.

    The table is :func:`heldout_check`'s (the empty table with ``rounds=0``); it reaches the
    output as ``uns['commst']['method_info']['quality']`` and ``quality.tsv``
    (:func:`commst.model.quality_table`).
    """
    if result.extra.get("quality"):
        return result
    table = heldout_check(method, spatial, reference, input_genes=input_genes, seed=seed, params=params, rounds=rounds)
    return dataclasses.replace(result, extra={**result.extra, "quality": table.to_dict(orient="list")})


__all__ = [
    "BASELINE_METHOD",
    "DEFAULT_HELDOUT_ROUNDS",
    "QUALITY_COLUMNS",
    "heldout_check",
    "heldout_masks",
    "with_heldout_check",
]
