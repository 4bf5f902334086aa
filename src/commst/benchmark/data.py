"""Benchmark data manipulation: count thinning, dataset splitting and gene folds.

- :func:`thin_counts` emulates lower capture (e.g. Stereo-seq) by binomial thinning of raw
  counts: each molecule is kept independently with probability ``p``.
- :func:`split_spatial` turns one spatial dataset with cell types (e.g. the bundled STARmap
  data, :func:`load_starmap`) into a reference half and a spatial half, so the spatial half
  has a real-count ground truth for every gene.
- :func:`heldout_folds` splits the shared genes into folds with the LR genes spread evenly,
  for the held-out-gene protocol of Li et al. 2022 (:mod:`commst.benchmark.heldout`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import anndata as ad
import numpy as np
from scipy import sparse

from commst._constants import Keys
from commst.pp import target_sum_of
from commst.pp._normalise import _log_normalise_x

logger = logging.getLogger(__name__)

COUNTS_LAYER = Keys.layers.counts
"""Layer holding raw counts in prepared AnnData objects."""


def _repo_resource(*parts: str) -> Path:
    """Path of a file in the repository's ``resources/`` folder (editable install)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent.joinpath("resources", *parts)
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        f"resources/{'/'.join(parts)} not found above {here}; run from a CommST checkout "
        "(the bundled benchmark data live in the repository, not in the wheel)"
    )


def load_starmap() -> ad.AnnData:
    """Bundled STARmap mouse visual cortex data (Wang et al. 2018).

    Returns
    -------
    930 cells x 996 genes; raw counts in ``X`` and ``layers['counts']``, ``obs['cell_type']``,
    ``obsm['spatial']``. Provenance and licence: ``resources/benchmark/README.md``.
    """
    path = _repo_resource("benchmark", "starmap_visp.h5ad")
    adata = ad.read_h5ad(path)
    adata.X = sparse.csr_matrix(adata.X, dtype=np.float32)
    adata.layers[COUNTS_LAYER] = adata.X.copy()
    return adata


def get_counts(adata: ad.AnnData, *, name: str = "AnnData") -> sparse.csr_matrix | np.ndarray:
    """Raw counts of an AnnData: ``layers['counts']`` when present, else ``X``.

    Parameters
    ----------
    adata
        Data with raw counts.
    name
        How to call the object in error messages (e.g. its file name).

    Returns
    -------
    The counts matrix (not a copy).
    """
    counts = adata.layers[COUNTS_LAYER] if COUNTS_LAYER in adata.layers else adata.X
    if counts is None:
        raise ValueError(f"{name} has neither layers['counts'] nor X; store raw counts in one of them")
    return counts


def _check_integer_counts(data: np.ndarray, name: str) -> None:
    if data.size and ((data < 0).any() or not np.allclose(data, np.round(data))):
        raise ValueError(
            f"{name}: binomial thinning needs non-negative integer counts, found "
            f"{'negative' if (data < 0).any() else 'non-integer'} values; pass raw counts "
            "(layers['counts']), not normalised data"
        )


def _thin_matrix(x: np.ndarray | sparse.spmatrix, p: float, rng: np.random.Generator, name: str):
    if sparse.issparse(x):
        out = sparse.csr_matrix(x, dtype=np.float32, copy=True)
        _check_integer_counts(out.data, name)
        out.data = rng.binomial(np.round(out.data).astype(np.int64), p).astype(np.float32)
        out.eliminate_zeros()
        return out
    arr = np.asarray(x)
    _check_integer_counts(arr, name)
    return rng.binomial(np.round(arr).astype(np.int64), p).astype(np.float32)


def thin_counts(
    data: ad.AnnData | np.ndarray | sparse.spmatrix,
    p: float,
    seed: int = 0,
) -> ad.AnnData | np.ndarray | sparse.csr_matrix:
    """Binomially thin raw counts: keep each molecule independently with probability ``p``.

    Parameters
    ----------
    data
        Raw counts as a dense or sparse matrix, or an AnnData whose raw counts are in
        ``layers['counts']`` (or in ``X`` when that layer is absent).
    p
        Capture probability in ``(0, 1]``; ``p = 1`` returns an unchanged copy.
    seed
        Seed of the :class:`numpy.random.Generator`.

    Returns
    -------
    Same kind as ``data``: a thinned matrix (CSR when the input is sparse, float32), or a new
    AnnData in which ``layers['counts']`` holds the thinned counts and ``X`` is
    ``log1p(normalize_total(target_sum))`` of them, with the data's ``target_sum``
    (:func:`commst.pp.target_sum_of`; ``X`` is the thinned counts when the input had no counts
    layer). ``uns['benchmark']['thinning']`` records ``p`` and ``seed``.
    """
    if not 0 < p <= 1:
        raise ValueError(f"thinning probability p must be in (0, 1], got {p}")
    rng = np.random.default_rng(seed)
    if not isinstance(data, ad.AnnData):
        return _thin_matrix(data, p, rng, "count matrix")
    had_layer = COUNTS_LAYER in data.layers
    thinned = _thin_matrix(get_counts(data), p, rng, "AnnData counts")
    out = data.copy()
    if had_layer:
        out.layers[COUNTS_LAYER] = thinned
        out.X = thinned.copy()
        _log_normalise_x(out, target_sum_of(data))
    else:
        out.X = thinned
    out.uns.setdefault(Keys.uns.benchmark, {})["thinning"] = {"p": float(p), "seed": int(seed)}
    return out


def split_spatial(
    adata: ad.AnnData,
    *,
    cell_type_key: str = Keys.obs.cell_type,
    fraction: float = 0.5,
    seed: int = 0,
) -> tuple[ad.AnnData, ad.AnnData]:
    """Split one spatial dataset into a reference half and a spatial half.

    Each cell type is split separately (stratified), so both halves keep every cell type with
    at least two cells; a type with a single cell goes to the reference.

    Parameters
    ----------
    adata
        Spatial single-cell-resolution data with raw counts (``layers['counts']`` or ``X``),
        cell types in ``obs[cell_type_key]`` and ``obsm['spatial']``.
    cell_type_key
        Column of ``obs`` with cell types.
    fraction
        Share of each cell type's cells that go to the reference, in ``(0, 1)``.
    seed
        Seed of the :class:`numpy.random.Generator`.

    Returns
    -------
    ``(reference, spatial)``: copies with raw counts in ``X`` and ``layers['counts']`` and
    ``obs['cell_type']`` (categorical); the spatial half keeps ``obsm['spatial']`` and its
    cell types as ground truth; each records the split under ``uns['benchmark']['split']``.
    """
    if cell_type_key not in adata.obs:
        raise ValueError(
            f"obs has no column {cell_type_key!r} (columns: {list(adata.obs.columns)}); "
            "pass cell_type_key= naming the cell-type annotation"
        )
    if Keys.obsm.spatial not in adata.obsm:
        raise ValueError("obsm['spatial'] is missing; the spatial half needs coordinates")
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    labels = adata.obs[cell_type_key].astype(str).to_numpy()
    to_ref = np.zeros(adata.n_obs, dtype=bool)
    for ct in np.unique(labels):
        idx = np.flatnonzero(labels == ct)
        n_ref = int(round(fraction * idx.size))
        n_ref = min(max(n_ref, 1), idx.size - 1) if idx.size > 1 else 1
        to_ref[rng.permutation(idx)[:n_ref]] = True
    counts = sparse.csr_matrix(get_counts(adata), dtype=np.float32)
    halves = []
    for mask, role in ((to_ref, "reference"), (~to_ref, "spatial")):
        part = ad.AnnData(
            X=counts[mask].copy(),
            obs=adata.obs.iloc[mask].copy(),
            var=adata.var.copy(),
        )
        part.obs[Keys.obs.cell_type] = part.obs[cell_type_key].astype(str).astype("category")
        part.layers[COUNTS_LAYER] = part.X.copy()
        if role == "spatial":
            part.obsm[Keys.obsm.spatial] = np.asarray(adata.obsm[Keys.obsm.spatial], dtype=float)[mask]
        part.uns[Keys.uns.benchmark] = {"split": {"role": role, "fraction": fraction, "seed": seed}}
        halves.append(part)
    logger.info("split %d cells into %d reference / %d spatial", adata.n_obs, to_ref.sum(), (~to_ref).sum())
    return halves[0], halves[1]


def heldout_folds(
    shared_genes: Sequence[str],
    lr_genes: Sequence[str],
    n_folds: int = 10,
    seed: int = 0,
) -> list[list[str]]:
    """Split shared genes into folds, spreading LR genes evenly over them.

    LR genes (those of ``lr_genes`` that are shared) are shuffled and dealt round-robin, then
    the other genes are shuffled and dealt on, starting at the smallest fold, so fold sizes
    differ by at most one and LR counts per fold by at most one.

    Parameters
    ----------
    shared_genes
        Genes measured in both spatial data and reference.
    lr_genes
        LR genes (any superset is fine; only shared ones count).
    n_folds
        Number of folds (at most the number of shared genes).
    seed
        Seed of the :class:`numpy.random.Generator`.

    Returns
    -------
    ``n_folds`` lists of gene names; every shared gene is in exactly one fold.
    """
    shared = list(dict.fromkeys(str(g) for g in shared_genes))
    if n_folds < 2:
        raise ValueError(f"n_folds must be >= 2, got {n_folds}")
    if len(shared) < n_folds:
        raise ValueError(f"{len(shared)} shared genes cannot fill {n_folds} folds; lower n_folds")
    lr = set(map(str, lr_genes))
    rng = np.random.default_rng(seed)
    is_lr = np.array([g in lr for g in shared])
    lr_part = [shared[i] for i in rng.permutation(np.flatnonzero(is_lr))]
    rest = [shared[i] for i in rng.permutation(np.flatnonzero(~is_lr))]
    folds: list[list[str]] = [[] for _ in range(n_folds)]
    for i, g in enumerate(lr_part):
        folds[i % n_folds].append(g)
    start = len(lr_part) % n_folds
    for i, g in enumerate(rest):
        folds[(start + i) % n_folds].append(g)
    return folds
