"""Small synthetic spatial/reference pairs where the right answer is known."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp


def planted_pair(
    *,
    n_types: int = 3,
    cells_per_type: int = 60,
    spots_per_type: int = 40,
    n_markers: int = 20,
    capture: float = 0.3,
    seed: int = 0,
) -> tuple[ad.AnnData, ad.AnnData]:
    """A reference and a spatial dataset drawn from the same cell types.

    Each type has ``n_markers`` input marker genes (upper-case human-like symbols ``MKn_i``),
    and there are three LR genes: ``LIGA`` expressed only by type 0, ``RECB`` only by type
    1 and ``RECALL`` by every type. The spatial data measure the markers and ``RECALL`` but
    not ``LIGA``/``RECB``; spots are single cells at ``capture`` times the reference depth,
    laid out in one vertical stripe per type (x = type index). Spot ``obs['true_type']``
    holds the truth.
    """
    rng = np.random.default_rng(seed)
    markers = [f"MK{t}_{i}" for t in range(n_types) for i in range(n_markers)]
    housekeeping = [f"HK{i}" for i in range(30)]
    lr = ["LIGA", "RECB", "RECALL"]
    genes = markers + housekeeping + lr

    def profile(t: int) -> np.ndarray:
        mu = np.full(len(genes), 0.2)
        mu[t * n_markers : (t + 1) * n_markers] = 8.0
        mu[len(markers) : len(markers) + len(housekeeping)] = 3.0
        mu[genes.index("LIGA")] = 6.0 if t == 0 else 0.0
        mu[genes.index("RECB")] = 6.0 if t == 1 else 0.0
        mu[genes.index("RECALL")] = 4.0
        return mu

    def draw(n: int, t: int, scale: float) -> np.ndarray:
        depth = rng.lognormal(0.0, 0.3, size=(n, 1)) * scale
        return rng.poisson(profile(t)[None, :] * depth)

    ref_x = np.vstack([draw(cells_per_type, t, 1.0) for t in range(n_types)])
    ref = ad.AnnData(
        X=sp.csr_matrix(ref_x.astype(np.float32)),
        obs=pd.DataFrame(
            {"cell_type": pd.Categorical(np.repeat([f"type{t}" for t in range(n_types)], cells_per_type))},
            index=[f"cell{i}" for i in range(ref_x.shape[0])],
        ),
        var=pd.DataFrame(index=genes),
    )
    sp_x = np.vstack([draw(spots_per_type, t, capture) for t in range(n_types)])
    true_type = np.repeat([f"type{t}" for t in range(n_types)], spots_per_type)
    measured = markers + housekeeping + ["RECALL"]
    spatial = ad.AnnData(
        X=sp.csr_matrix(sp_x[:, [genes.index(g) for g in measured]].astype(np.float32)),
        obs=pd.DataFrame({"true_type": pd.Categorical(true_type)}, index=[f"spot{i}" for i in range(sp_x.shape[0])]),
        var=pd.DataFrame(index=measured),
    )
    coords = np.column_stack(
        [np.repeat(np.arange(n_types), spots_per_type) * 10.0, np.tile(np.arange(spots_per_type), n_types) * 1.0]
    )
    spatial.obsm["spatial"] = coords
    return spatial, ref


#: LR genes of :func:`planted_pair` as (ligands, receptors).
PLANTED_LR = ({"LIGA"}, {"RECB", "RECALL"})


def random_profile_pair(seed: int = 0, n_types: int = 4, n_genes: int = 60) -> tuple[ad.AnnData, ad.AnnData]:
    """Single-cell-resolution spatial data and a reference drawn from the same random type profiles.

    Prepared with :func:`commst.benchmark.prepare_pair` (reference types in ``obs['cell_type']``).
    """
    rng = np.random.default_rng(seed)
    profiles = rng.gamma(0.6, 1.0, size=(n_types, n_genes)) * 2
    genes = [f"G{i}" for i in range(n_genes)]

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        types = rng.integers(0, n_types, size=n)
        depth = rng.uniform(0.5, 1.5, size=(n, 1))
        return rng.poisson(profiles[types] * depth).astype(np.float32), types

    x_sp, t_sp = draw(120)
    x_ref, t_ref = draw(150)
    spatial = ad.AnnData(
        sp.csr_matrix(x_sp),
        obs=pd.DataFrame(index=[f"s{i}" for i in range(120)]),
        var=pd.DataFrame(index=genes),
    )
    spatial.obsm["spatial"] = rng.uniform(0, 100, size=(120, 2))
    reference = ad.AnnData(
        sp.csr_matrix(x_ref),
        obs=pd.DataFrame({"label": [f"T{t}" for t in t_ref]}, index=[f"c{i}" for i in range(150)]),
        var=pd.DataFrame(index=genes),
    )
    from commst.benchmark.heldout import prepare_pair

    return prepare_pair(spatial, reference, cell_type_key="label")


#: The known-answer pairs of :func:`communication_layout`: L^R planted, L^G layout only.
LAYOUT_PAIRS = pd.DataFrame({"ligand": ["L", "L"], "receptor": ["R", "G"]})


def communication_layout(*, seed: int = 0, denoised: bool = False, nx: int = 36, ny: int = 24) -> ad.AnnData:
    """Spots on a grid where a ligand acts on its neighbours and a second gene only follows the layout.

    The left half holds scattered type-A sender cells (20 %) among type-B cells, the right half
    a mix of type-B and type-C cells (one cell per spot). The ligand ``L`` is expressed by A
    cells; the receptor ``R`` by the B cells within 1.5 spacings of an A cell (a planted
    interaction: it sits next to the ligand); ``G`` by every A and B cell: it only follows the
    cell-type layout, which co-localises it with ``L`` all the same. Background genes ``bg*``
    give each spot its library. Counts are Poisson; ``denoised=True`` returns their
    expectation instead (what an imputation that reproduces the layout exactly gives), with
    the Poisson sd on the ``X`` scale in ``layers['uncertainty']``.

    Returns
    -------
    AnnData with log-normalised ``X``, ``layers['counts']``, ``layers['uncertainty']`` (zeros
    for the noisy version), ``obs['matched_cell_type']`` (the true type) and ``obsm['spatial']``.
    """
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    xx, yy = np.meshgrid(np.arange(nx, dtype=float), np.arange(ny, dtype=float))
    coords = np.c_[xx.ravel(), yy.ravel()] + rng.normal(0, 0.05, (nx * ny, 2))
    u = rng.random(coords.shape[0])
    left = coords[:, 0] < nx / 2
    kind = np.where(left, np.where(u < 0.2, "A", "B"), np.where(u < 0.5, "C", "B"))
    near_sender = cKDTree(coords[kind == "A"]).query(coords)[0] <= 1.5
    rate = {
        "L": np.where(kind == "A", 5.0, 0.1),
        "R": np.where((kind == "B") & near_sender, 10.0, 0.1),
        "G": np.where(np.isin(kind, ["A", "B"]), 5.0, 0.1),
    }
    for t in "ABC":
        for i in range(14):
            rate[f"bg{t}{i}"] = np.where(kind == t, 8.0, 1.0)
    lam = np.column_stack(list(rate.values()))
    counts = lam if denoised else rng.poisson(lam).astype(float)
    library = counts.sum(axis=1, keepdims=True)
    scale = 1e4 / library
    adata = ad.AnnData(
        X=np.log1p(counts * scale).astype(np.float32),
        obs=pd.DataFrame({"matched_cell_type": pd.Categorical(kind)}, index=[f"s{i}" for i in range(len(kind))]),
        var=pd.DataFrame(index=list(rate)),
    )
    adata.obsm["spatial"] = coords
    adata.layers["counts"] = counts.astype(np.float32)
    sd = np.sqrt(lam) * scale / (1 + lam * scale) if denoised else np.zeros_like(lam)
    adata.layers["uncertainty"] = sd.astype(np.float32)
    return adata
