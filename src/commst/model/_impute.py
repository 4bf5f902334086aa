"""Imputation with a trained CommST model: decoder output, guard, uncertainty, labels."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import torch

from ..tl._types import ImputationResult
from ._config import CommSTConfig
from ._data import TARGET_SUM, _columns, encoder_input, thin_to_library
from ._train import TrainedCommST, gather_rows, knn, neighbour_weights, resolve_device, train

logger = logging.getLogger(__name__)

_TRAIN_ONLY = ("ppi", "ligand_target", "checkpoint_dir", "progress")


@torch.no_grad()
def _embed(net: Any, counts: Any, lib: np.ndarray, mean: np.ndarray, sd: np.ndarray, device: torch.device,
           rng: np.random.Generator | None, target_libs: np.ndarray | None, chunk: int = 4096,
           columns: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Latent coordinates of all rows of ``counts`` (CSR), in chunks, and the decoder output
    of the decoded ``columns`` (``None``: no decoder output is kept)."""
    zs, ms = [], []
    for start in range(0, counts.shape[0], chunk):
        x = counts[start : start + chunk].toarray()
        l = lib[start : start + chunk]
        if rng is not None:
            x = thin_to_library(x, l, target_libs, rng)
            l = x.sum(1)
        z, m = net(encoder_input(x, l, mean, sd, device))
        zs.append(z.cpu().numpy())
        if columns is not None:
            ms.append(m[:, torch.as_tensor(columns, device=m.device)].cpu().numpy())
    return np.concatenate(zs), (np.concatenate(ms) if columns is not None else None)


def impute_with_model(
    model: TrainedCommST,
    spatial: ad.AnnData,
    reference: ad.AnnData,
    *,
    targets: Sequence[str] | None = None,
    chunk: int = 4096,
) -> ImputationResult:
    """Impute ``targets`` (default: all the model's targets) for every spot of ``spatial``.

    The prediction is the decoder output (optionally blended with the latent neighbours'
    weighted mean, ``config.blend``), on the ``log1p(counts / input-library * 1e4)`` scale,
    turned into expected counts at each spot's depth over the input genes.

    Returns
    -------
    :class:`~commst.tl._types.ImputationResult` with ``uncertainty`` (count units, the
    package's convention: ``sd_log · d counts / d prediction`` with ``sd_log = sqrt(weighted
    variance of the neighbours' expression + (decoder - neighbour mean)^2)`` on the prediction's
    log scale),
    ``guard`` (genes that fewer than ``guard_min_frac`` of the ``guard_k`` matched
    reference cells express are zero; all False when the guard is switched off), ``labels``
    (weighted majority cell type of the matched cells) and ``extra`` (config, history,
    guard counts).
    """
    c = model.config
    targets = list(model.targets if targets is None else targets)
    unknown = [g for g in targets if g not in model.targets]
    if unknown:
        raise ValueError(f"{len(unknown)} requested targets were not trained (e.g. {unknown[:5]}); retrain with these targets")
    device = resolve_device(c.device)
    net = model.network(device)
    cols = np.array([model.decoded.index(g) for g in targets], dtype=np.int64)
    sc = model.scaling

    sp_in = _columns(spatial, model.input_genes, "spatial")
    ref_in = _columns(reference, model.input_genes, "reference")
    sp_lib = np.asarray(sp_in.sum(1)).ravel().astype(np.float32)
    ref_lib = np.asarray(ref_in.sum(1)).ravel().astype(np.float32)
    z_s, dec = _embed(net, sp_in, sp_lib, sc["mean_sp"], sc["sd_sp"], device, None, None, chunk, columns=cols)
    assert dec is not None
    rng = np.random.default_rng(c.seed + 7) if c.thinning else None
    z_c, _ = _embed(net, ref_in, ref_lib, sc["mean_ref"], sc["sd_ref"], device, rng, sp_lib, chunk)
    idx_g, dist_g = knn(z_s, z_c, max(c.k_neighbours, c.guard_k), c.seed)
    idx, w = idx_g[:, : c.k_neighbours], neighbour_weights(dist_g[:, : c.k_neighbours])

    ref_t = _columns(reference, targets, "reference")
    ref_t_log = ref_t.multiply((TARGET_SUM / np.maximum(ref_lib, 1.0))[:, None]).tocsr()
    ref_t_log.data = np.log1p(ref_t_log.data)
    ref_t_sq = ref_t_log.multiply(ref_t_log).tocsr()
    expressed = ref_t.copy()
    expressed.data = (expressed.data > 0).astype(np.float32)
    n, k, kg = len(sp_lib), idx.shape[1], idx_g.shape[1]
    # spots in chunks, straight into the three outputs (no other spots x targets array is kept)
    counts = np.zeros((n, len(targets)), np.float32)
    uncertainty = np.zeros_like(counts)
    guard = np.zeros(counts.shape, dtype=bool)
    for start in range(0, n, chunk):
        sl = slice(start, start + chunk)
        mu64 = gather_rows(ref_t_log, idx[sl], w[sl])
        var = np.maximum(gather_rows(ref_t_sq, idx[sl], w[sl]) - mu64**2, 0.0).astype(np.float32)
        mu = mu64.astype(np.float32)
        pred = (1.0 - c.blend) * dec[sl] + c.blend * mu
        part = np.expm1(pred) / TARGET_SUM * sp_lib[sl, None]
        # sd on the prediction's log scale, to count units (d part / d pred = exp(pred) * lib / 1e4)
        uncertainty[sl] = np.sqrt(var + (dec[sl] - mu) ** 2) * np.exp(pred) / TARGET_SUM * sp_lib[sl, None]
        if c.guard:
            frac = gather_rows(expressed, idx_g[sl], np.full(idx_g[sl].shape, 1.0 / kg, np.float32))
            guard[sl] = frac.astype(np.float32) < c.guard_min_frac
            part[guard[sl]] = 0.0
        counts[sl] = np.maximum(part, 0.0)
    del dec

    labels = None
    if "cell_type" in reference.obs:
        types = reference.obs["cell_type"].astype(str).to_numpy()
        votes = pd.DataFrame({"spot": np.repeat(np.arange(n), k), "type": types[idx.ravel()], "w": w.ravel()})
        best = votes.groupby(["spot", "type"], observed=True)["w"].sum().reset_index()
        best = best.sort_values(["spot", "w"], ascending=[True, False]).drop_duplicates("spot").set_index("spot")
        labels = pd.Series(best["type"].reindex(np.arange(n)).to_numpy(), index=spatial.obs_names, name="commst_label")
    logger.info(
        "imputed %d targets for %d spots; guard zeroed %.1f%% of values", len(targets), n, 100.0 * guard.mean()
    )
    return ImputationResult(
        counts=counts,
        targets=targets,
        uncertainty=uncertainty,
        guard=guard,
        labels=labels,
        extra={
            "method": "commst",
            "config": c.to_dict(),
            "history": model.history.to_dict(orient="list"),
            "n_guarded": int(guard.sum()),
            "uncertainty_scale": "counts (delta method from log1p(counts / input-library * 1e4))",
        },
    )


def impute_commst(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    *,
    targets: Sequence[str],
    input_genes: Sequence[str],
    seed: int = 0,
    model: TrainedCommST | None = None,
    config: CommSTConfig | None = None,
    **params: Any,
) -> ImputationResult:
    """CommST imputation of LR target genes per spot (trains the model unless one is given).

    Parameters
    ----------
    spatial, reference
        Prepared AnnData objects (see :func:`commst.model.train`).
    targets
        LR target genes to impute. When ``model`` is given they must be among its targets.
    input_genes
        Input genes; must equal the model's when ``model`` is given.
    seed
        Random seed (overrides ``config.seed``).
    model
        A trained model (:func:`commst.model.train` / :meth:`TrainedCommST.load`).
    config
        Settings; ``params`` naming :class:`CommSTConfig` fields override it. ``params`` may
        also carry ``ppi``, ``ligand_target``, ``checkpoint_dir`` and ``progress`` for training.

    Returns
    -------
    :class:`~commst.tl._types.ImputationResult` (see :func:`impute_with_model`).
    """
    train_kwargs = {k: params.pop(k) for k in _TRAIN_ONLY if k in params}
    if model is None:
        config = (config or CommSTConfig()).replace(seed=seed, **params)
        model = train(spatial, reference, targets=targets, input_genes=input_genes, config=config, **train_kwargs)
    else:
        if list(input_genes) != model.input_genes:
            raise ValueError(
                "input_genes differ from those the model was trained on; impute with the model's "
                "input genes (model.input_genes) or retrain"
            )
        if params:  # imputation-time settings (guard, blend, k_neighbours ...) on a copy
            model = dataclasses.replace(model, config=model.config.replace(**params))
    return impute_with_model(model, spatial, reference, targets=targets)
