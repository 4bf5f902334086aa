"""Synthetic data of any size from a real prepared pair (rule ``scale_data``)."""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Mapping
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.spatial import cKDTree

from commst._constants import Keys
from commst.pp import DEFAULT_TARGET_SUM, counts_matrix, get_gene_sets, lognorm

_NOISE_CHUNK = 1 << 22  # count entries drawn per call, so the noise needs O(chunk) extra memory


def _counts(adata: ad.AnnData) -> sp.csr_matrix:
    """Raw counts (``layers['counts']``, else ``X``) as float32 CSR, without densifying."""
    return sp.csr_matrix(counts_matrix(adata), dtype=np.float32)


class _CountHistogram:
    """How often each gene has each non-zero integer count in a real counts matrix (CSR)."""

    def __init__(self, counts: sp.csr_matrix) -> None:
        data = counts.data
        whole = (data >= 1) & (data == np.floor(data))
        self.stride = int(data[whole].max()) + 2 if whole.any() else 2
        genes = counts.indices[whole].astype(np.int64)
        self.keys, self.freq = np.unique(genes * self.stride + data[whole].astype(np.int64), return_counts=True)

    def __call__(self, genes: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Frequency of ``values`` (int64, at most ``stride - 1``) of ``genes`` in the real data (0 if never seen)."""
        keys = genes * self.stride + values
        pos = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return np.where(self.keys[pos] == keys, self.freq[pos], 0)


def _noisy_rows(counts: sp.csr_matrix, rows: np.ndarray, rng: np.random.Generator, steps: int = 2) -> sp.csr_matrix:
    """Rows ``rows`` of ``counts`` (repeats allowed) with count noise that keeps each gene's count distribution.

    Each non-zero integer count takes ``steps`` Metropolis steps of +-1 whose stationary
    distribution is the gene's real distribution of non-zero counts: from ``c`` the proposal
    ``c' = c +- 1`` is accepted with probability ``min(1, n_g(c') / n_g(c))``, ``n_g(c)`` being
    how many real observations have count ``c`` of gene ``g``. So zeros stay zero, non-zeros
    stay non-zero, and the distribution of counts per gene (hence the share of zeros and the
    mean library size) is kept in expectation, while individual counts change. (Poisson noise
    around each count would keep the mean too, but turns many 2s into 1s and inflates the share
    of ones: 51% -> 61% of the non-zero counts of the demo's spots.) Non-integer values are
    copied unchanged. Memory is O(nnz of the result).
    """
    hist = _CountHistogram(counts)
    out = counts[rows]
    out.sum_duplicates()
    data, genes = out.data, out.indices
    for start in range(0, data.size, _NOISE_CHUNK):
        part = data[start : start + _NOISE_CHUNK]
        movable = np.flatnonzero((part >= 1) & (part == np.floor(part)))
        g = genes[start : start + _NOISE_CHUNK][movable].astype(np.int64)
        c = part[movable].astype(np.int64)
        for _ in range(steps):
            prop = c + (2 * rng.integers(0, 2, size=c.size) - 1)
            ratio = hist(g, np.maximum(prop, 0)) / np.maximum(hist(g, c), 1)
            accept = (prop >= 1) & (rng.random(c.size) < ratio)
            c[accept] = prop[accept]
        part[movable] = c
    out.eliminate_zeros()
    return out


def _log_normalise(counts: sp.csr_matrix, target_sum: float) -> sp.csr_matrix:
    """``log1p(counts / library × target_sum)`` as float32 CSR (what :func:`commst.pp.normalise` writes to ``X``)."""
    library = np.asarray(counts.sum(axis=1), dtype=np.float64).ravel()
    return lognorm(counts, library, target_sum=target_sum, dtype=np.float32)


def _target_sum(adata: ad.AnnData, default: float = DEFAULT_TARGET_SUM) -> float:
    """The library size ``adata.X`` was log-normalised to (read back from a non-empty row)."""
    if Keys.layers.counts not in adata.layers or adata.n_obs == 0:
        return default
    x = adata.X[:1]
    values = x.toarray() if sp.issparse(x) else np.asarray(x)
    total = float(np.expm1(values.astype(np.float64)).sum())
    return float(round(total)) if total > 0 else default


def spot_spacing(coords: np.ndarray) -> float:
    """Median distance from each spot to its nearest neighbour (the slide's spot spacing)."""
    coords = np.asarray(coords, dtype=np.float64)[:, :2]
    if len(coords) < 2:
        return 1.0
    dist, _ = cKDTree(coords).query(coords, k=2)
    return float(np.median(dist[:, 1]))


def _tile_layout(coords: np.ndarray, n_spots: int, spacing: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source spot, tile and (x, y) offset of each of ``n_spots`` tiled spots.

    Full tiles are copies of the whole slide; a last partial tile (or the only one, when
    ``n_spots`` is below the slide's size) keeps the spots nearest the slide's centre, so the
    spacing inside it stays the real one. Tiles sit on a near-square grid, one spacing apart.
    """
    n_real = len(coords)
    n_full, rest = divmod(n_spots, n_real)
    n_tiles = n_full + (rest > 0)
    sources = [np.arange(n_real)] * n_full
    if rest:
        centre = np.median(coords, axis=0)
        nearest = np.argsort(((coords - centre) ** 2).sum(axis=1), kind="stable")[:rest]
        sources.append(np.sort(nearest))
    source = np.concatenate(sources).astype(np.int64)
    tile = np.repeat(np.arange(n_tiles, dtype=np.int32), [len(s) for s in sources])
    n_cols = math.ceil(math.sqrt(n_tiles))
    extent = coords.max(axis=0) - coords.min(axis=0) + spacing
    grid = np.stack([np.arange(n_tiles) % n_cols, np.arange(n_tiles) // n_cols], axis=1)
    return source, tile, grid * extent


def _stratified_sample(labels: pd.Series, n_cells: int, rng: np.random.Generator) -> np.ndarray:
    """``n_cells`` row positions drawn with replacement within each label, keeping label shares.

    Counts per label are the largest-remainder rounding of ``n_cells`` times each label's
    share; the result is shuffled.
    """
    codes, uniques = pd.factorize(labels, sort=True)
    sizes = np.bincount(codes, minlength=len(uniques))
    exact = n_cells * sizes / sizes.sum()
    take = np.floor(exact).astype(np.int64)
    short = n_cells - int(take.sum())
    if short:
        take[np.argsort(-(exact - take), kind="stable")[:short]] += 1
    parts = [rng.choice(np.flatnonzero(codes == k), size=int(n), replace=True) for k, n in enumerate(take) if n > 0]
    rows = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return rows[rng.permutation(len(rows))]


def _copy_uns(uns: Mapping[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(dict(uns))


def synthesize_pair(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    *,
    n_spots: int,
    n_cells: int,
    seed: int = 0,
    jitter: float = 0.05,
    cell_type_key: str = Keys.obs.cell_type,
) -> tuple[ad.AnnData, ad.AnnData]:
    """A prepared spatial/reference pair of any size, generated from a real prepared pair.

    Parameters
    ----------
    spatial
        Prepared spatial data (:func:`commst.pp.prepare`): raw counts in ``layers['counts']``,
        log-normalised ``X``, ``obsm['spatial']``, ``uns['commst']['genes']``.
    reference
        Prepared reference with ``obs[cell_type_key]``.
    n_spots, n_cells
        Sizes of the result.
    seed
        Seed of every random draw; the same seed gives the same pair.
    jitter
        Coordinates move by up to this share of the spot spacing along each axis.
    cell_type_key
        Cell-type column of the reference.

    Returns
    -------
    ``(spatial, reference)``, new AnnData objects with the genes, ``var`` and ``uns`` of the
    input (``uns['commst']['genes']`` kept; ``uns['commst_scale']`` records how they were made),
    float32 CSR counts in ``layers['counts']`` and ``X = log1p(counts / library * target_sum)``
    as the input's ``X`` (``target_sum`` read back from it), ``obs['total_counts']``.

    **Spots** tile the slide: copies of the real slide on a near-square grid of tiles, one spot
    spacing apart (the last tile partial: the spots nearest the centre), every spot a copy of
    the real spot at that position with count noise that keeps each gene's distribution of
    counts (:func:`_noisy_rows`: zeros stay zero, each non-zero count moves by +-1 steps that
    leave the real distribution unchanged; share of zeros and mean library size kept), coordinates offset per
    tile plus a uniform jitter of ``jitter`` times the spacing, so the spacing, the count
    distribution and the spatial structure within a tile stay the real ones.
    ``obs['tile']`` and ``obs['source']`` (the real spot) say where each spot came from.
    **Reference cells** are drawn with replacement within each cell type, keeping the type
    proportions (largest-remainder rounding), with the same count noise; ``obs['source']`` is
    the real cell.

    Memory grows with the number of non-zero counts (nothing dense spots × genes is built).
    """
    if n_spots < 1 or n_cells < 1:
        raise ValueError(f"n_spots and n_cells must be positive, got {n_spots} and {n_cells}")
    if Keys.obsm.spatial not in spatial.obsm:
        raise ValueError("spatial data lack obsm['spatial'] (coordinates); pass a prepared pair")
    if cell_type_key not in reference.obs:
        raise ValueError(f"reference lacks obs[{cell_type_key!r}]; pass a prepared pair")
    rng_spots, rng_cells = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    target_sum = _target_sum(spatial)

    coords = np.asarray(spatial.obsm[Keys.obsm.spatial], dtype=np.float64)[:, :2]
    spacing = spot_spacing(coords)
    source, tile, offset = _tile_layout(coords, int(n_spots), spacing)
    xy = coords[source] + offset[tile] + rng_spots.uniform(-jitter, jitter, size=(len(source), 2)) * spacing
    counts = _noisy_rows(_counts(spatial), source, rng_spots)
    obs = spatial.obs.iloc[source].reset_index(drop=True)
    obs["tile"] = tile
    obs["source"] = pd.Categorical.from_codes(source, categories=spatial.obs_names.astype(str))
    obs[Keys.obs.total_counts] = np.asarray(counts.sum(axis=1), dtype=np.float32).ravel()
    obs.index = pd.Index([f"spot{i}" for i in range(len(source))])
    new_spatial = ad.AnnData(
        X=_log_normalise(counts, target_sum),
        obs=obs,
        var=spatial.var.copy(),
        uns=_copy_uns(spatial.uns),
        layers={Keys.layers.counts: counts},
    )
    new_spatial.obsm[Keys.obsm.spatial] = xy
    new_spatial.uns[Keys.uns.scale] = {
        "source_n_obs": int(spatial.n_obs),
        "n_tiles": int(tile.max()) + 1,
        "spacing": spacing,
        "jitter": jitter,
        "seed": int(seed),
        "target_sum": target_sum,
        "noise": "2 Metropolis steps of +-1 per non-zero count, stationary on the gene's real count distribution",
    }

    rows = _stratified_sample(reference.obs[cell_type_key].astype(str), int(n_cells), rng_cells)
    ref_counts = _noisy_rows(_counts(reference), rows, rng_cells)
    ref_obs = reference.obs.iloc[rows].reset_index(drop=True)
    ref_obs["source"] = pd.Categorical.from_codes(rows, categories=reference.obs_names.astype(str))
    ref_obs[Keys.obs.total_counts] = np.asarray(ref_counts.sum(axis=1), dtype=np.float32).ravel()
    ref_obs.index = pd.Index([f"cell{i}" for i in range(len(rows))])
    new_reference = ad.AnnData(
        X=_log_normalise(ref_counts, _target_sum(reference)),
        obs=ref_obs,
        var=reference.var.copy(),
        uns=_copy_uns(reference.uns),
        layers={Keys.layers.counts: ref_counts},
    )
    new_reference.uns[Keys.uns.scale] = {
        "source_n_obs": int(reference.n_obs),
        "seed": int(seed),
        "stratified_by": cell_type_key,
        "noise": new_spatial.uns[Keys.uns.scale]["noise"],
    }
    return new_spatial, new_reference


def pair_summary(spatial: ad.AnnData, reference: ad.AnnData) -> dict[str, int]:
    """Sizes recorded with a pair: ``n_spots``, ``n_cells``, ``n_targets``, ``n_inputs``."""
    targets, inputs = gene_sets(spatial, reference)
    return {
        "n_spots": int(spatial.n_obs),
        "n_cells": int(reference.n_obs),
        "n_targets": len(targets),
        "n_inputs": len(inputs),
    }


def write_pair(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    spatial_path: str | os.PathLike[str],
    reference_path: str | os.PathLike[str],
) -> None:
    """Write a pair atomically, uncompressed (fast to write and to read back at 10^5–10^6 rows)."""
    from commst._utils import atomic_path

    for adata, path in ((spatial, spatial_path), (reference, reference_path)):
        with atomic_path(path) as tmp:
            adata.write_h5ad(tmp)


def gene_sets(spatial: ad.AnnData, reference: ad.AnnData) -> tuple[list[str], list[str]]:
    """LR targets (reference genes) and input genes (in both) of a prepared pair."""
    genes = get_gene_sets(spatial)
    ref_genes, sp_genes = set(reference.var_names), set(spatial.var_names)
    targets = [g for g in genes.lr_targets if g in ref_genes]
    inputs = [g for g in genes.input if g in ref_genes and g in sp_genes]
    return targets, inputs
