"""Priors → penalties of the CommST decoder: PPI-graph smoothness and NicheNet consistency.

:func:`model_priors` builds both priors of a sample from the workflow's prior artefacts
(``results/priors/{species}/``); the other functions turn them into loss terms.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.neighbors import NearestNeighbors

if TYPE_CHECKING:
    from ._config import CommSTConfig

logger = logging.getLogger(__name__)


def model_priors(
    targets: Sequence[str],
    input_genes: Sequence[str],
    *,
    config: CommSTConfig,
    species: str,
    lr: pd.DataFrame | None = None,
    ppi_path: str | None = None,
    ligand_target_path: str | None = None,
) -> dict[str, Any]:
    """The ``ppi`` and ``ligand_target`` arguments of :func:`commst.model.train` from prior artefacts.

    Parameters
    ----------
    targets, input_genes
        The sample's LR targets and input genes.
    config
        Model settings: a prior whose weight (``w_ppi``, ``w_nichenet``) is 0 is not built.
    species
        The sample's species.
    lr
        The LR table (``lr_resource.tsv``); its pairs join the PPI graph among the targets.
    ppi_path, ligand_target_path
        ``ppi_edges.parquet`` and ``ligand_target.npz``; a prior without its file is left out.

    Returns
    -------
    ``{"ppi": gene graph among the targets, "ligand_target": targets × ligands}``, with the
    entries that are switched on and have a file.
    """
    from ..priors import ligand_target_matrix, ppi_graph

    priors: dict[str, Any] = {}
    if config.w_ppi > 0 and ppi_path:
        priors["ppi"] = ppi_graph(list(targets), species, lr=lr, path=ppi_path)
    if config.w_nichenet > 0 and ligand_target_path:
        lt = ligand_target_matrix(species, ligands=list(targets), targets=list(input_genes), path=ligand_target_path)
        priors["ligand_target"] = lt.loc[lt.sum(axis=1) > 0, lt.sum(axis=0) > 0]
    return priors


def gene_graph_edges(
    graph: sp.spmatrix | np.ndarray | pd.DataFrame, genes: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Undirected weighted edges ``(i, j, w)`` with ``i < j`` of a gene graph among ``genes``.

    Parameters
    ----------
    graph
        Adjacency among ``genes`` in that order (scipy sparse or array, as returned by
        :func:`commst.priors.ppi_graph`), or a DataFrame whose index and columns are gene
        symbols (reindexed onto ``genes``; genes absent from it get no edge).
    genes
        The genes the model decodes.
    """
    genes = list(genes)
    if isinstance(graph, pd.DataFrame):
        graph = graph.reindex(index=genes, columns=genes).fillna(0.0).to_numpy(dtype=np.float32)
    A = sp.csr_matrix(graph, dtype=np.float32)
    if A.shape != (len(genes), len(genes)):
        raise ValueError(
            f"gene graph has shape {A.shape} but {len(genes)} target genes are decoded; pass the "
            "adjacency built for exactly the targets (commst.priors.ppi_graph(targets, ...)) or a "
            "DataFrame labelled with gene symbols"
        )
    A = sp.triu(A.maximum(A.T), k=1).tocoo()
    keep = A.data > 0
    return A.row[keep].astype(np.int64), A.col[keep].astype(np.int64), A.data[keep].astype(np.float32)


def laplacian_penalty(pred: torch.Tensor, edges: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Graph-Laplacian smoothness ``sum_e w_e mean_b (z_bi - z_bj)^2 / sum_e w_e`` of batch
    predictions z-scored per gene (so it acts on spatial patterns, not on abundance)."""
    i, j, w = edges
    z = (pred - pred.mean(0, keepdim=True)) / (pred.std(0, keepdim=True) + 1e-4)
    diff = (z[:, i] - z[:, j]).pow(2).mean(0)
    return (w * diff).sum() / w.sum()


@dataclass
class NicheNetPrior:
    """What the NicheNet consistency term needs.

    Attributes
    ----------
    graph
        Spots × spots row-normalised spatial neighbour weights (self excluded).
    ligand_idx
        Columns of the ligands among the decoded genes.
    response_idx
        Columns of the response (target) genes among the input genes.
    matrix
        Response genes × ligands regulatory potential.
    """

    graph: sp.csr_matrix
    ligand_idx: np.ndarray
    response_idx: np.ndarray
    matrix: np.ndarray


def build_nichenet_prior(
    ligand_target: pd.DataFrame,
    *,
    decoded: Sequence[str],
    input_genes: Sequence[str],
    coords: np.ndarray,
    spatial_k: int,
) -> NicheNetPrior | None:
    """Match a ligand→target matrix (targets × ligands) to the model's genes.

    Ligands must be decoded genes (their spot predictions carry the signal); responses must
    be input genes (their observed spatial expression is the response). Returns ``None``
    (with a warning) when either set is empty.
    """
    if not isinstance(ligand_target, pd.DataFrame):
        raise TypeError(
            "ligand_target must be a DataFrame, target genes x ligand genes (commst.priors.ligand_target_matrix)"
        )
    decoded, input_genes = list(decoded), list(input_genes)
    ligands = [g for g in ligand_target.columns if g in set(decoded)]
    responses = [g for g in ligand_target.index if g in set(input_genes)]
    if not ligands or not responses:
        logger.warning(
            "NicheNet term off: %d ligands of the ligand-target matrix are decoded, %d of its targets are input genes",
            len(ligands),
            len(responses),
        )
        return None
    matrix = ligand_target.loc[responses, ligands].to_numpy(dtype=np.float32)
    keep = np.abs(matrix).sum(1) > 0
    responses = [g for g, k in zip(responses, keep) if k]
    matrix = matrix[keep]
    if not responses:
        logger.warning("NicheNet term off: no target gene has regulatory potential from a decoded ligand")
        return None
    n = coords.shape[0]
    k = min(spatial_k, n - 1)
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(coords).kneighbors(coords)
    rows = np.repeat(np.arange(n), k)
    graph = sp.csr_matrix((np.full(n * k, 1.0 / k, dtype=np.float32), (rows, idx[:, 1:].ravel())), shape=(n, n))
    logger.info("NicheNet term: %d ligands, %d response genes, %d spatial neighbours", len(ligands), len(responses), k)
    return NicheNetPrior(
        graph=graph,
        ligand_idx=np.array([decoded.index(g) for g in ligands]),
        response_idx=np.array([input_genes.index(g) for g in responses]),
        matrix=matrix,
    )


def nichenet_penalty(received: torch.Tensor, matrix: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """``1 - mean_t corr_b(expected_bt, observed_bt)``: the ligand signal a spot receives
    (``received``, spots × ligands), passed through ``matrix`` (targets × ligands), should
    rise and fall with the spot's observed target-gene expression."""
    expected = received @ matrix.T
    e = expected - expected.mean(0, keepdim=True)
    o = observed - observed.mean(0, keepdim=True)
    denom = e.norm(dim=0) * o.norm(dim=0)
    ok = denom > 1e-6
    if not bool(ok.any()):
        return received.sum() * 0.0
    corr = (e * o).sum(0)[ok] / denom[ok]
    return 1.0 - corr.mean()
