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
