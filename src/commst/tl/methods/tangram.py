"""The ``tangram`` baseline: Tangram (Biancalani et al. 2021, *Nat Methods* 18:1352), cells mode.

Uses tangram-sc (``tg.pp_adatas`` + ``tg.map_cells_to_space(mode="cells")``) on CPU or GPU.
Both modalities are given to Tangram as ``log1p(share × target_sum)`` of the input genes (Li et al.
2022 also map normalised data); the learned cells x spots mapping ``M`` then projects the
reference's target shares onto the spots, ``share_s = sum_c M[c, s] share_c / sum_c M[c, s]``
(Tangram's ``project_genes`` on shares), and shares become expected counts at spot depth.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..._constants import Keys
from .._types import ImputationResult
from ._common import check_genes, input_depth, log_shares, shares

logger = logging.getLogger(__name__)


def impute_tangram(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    *,
    targets: Sequence[str],
    input_genes: Sequence[str],
    seed: int = 0,
    num_epochs: int = 1000,
    learning_rate: float = 0.1,
    density_prior: str = "rna_count_based",
    device: str = "cpu",
) -> ImputationResult:
    """Impute targets with Tangram's cell-to-spot mapping (``mode="cells"``).

    Parameters
    ----------
    spatial, reference
        Raw counts in ``layers['counts']`` (or ``X``); reference ``obs['cell_type']``.
    targets
        Genes to impute (reference genes).
    input_genes
        Training genes of the mapping (measured in both).
    seed
        ``random_state`` of the mapping.
    num_epochs, learning_rate, density_prior
        Passed to ``tangram.map_cells_to_space`` (its defaults).
    device
        ``"cpu"`` or a torch device such as ``"cuda:0"``.

    Returns
    -------
    :class:`commst.tl.ImputationResult`; ``labels`` = cell type with the largest mapped
    probability mass per spot; ``guard`` = no cell with mass on the spot expresses the gene;
    ``extra['training_score']`` = Tangram's final gene-similarity score.
    """
    import tangram as tg

    targets, input_genes = check_genes(spatial, reference, targets, input_genes, "tangram")
    ad_sc = ad.AnnData(
        X=sp.csr_matrix(log_shares(reference, input_genes, input_genes).astype(np.float32)),
        obs=pd.DataFrame(
            {Keys.obs.cell_type: reference.obs[Keys.obs.cell_type].astype(str).to_numpy()},
            index=reference.obs_names.astype(str),
        ),
        var=pd.DataFrame(index=input_genes),
    )
    ad_sp = ad.AnnData(
        X=sp.csr_matrix(log_shares(spatial, input_genes, input_genes).astype(np.float32)),
        obs=pd.DataFrame(index=spatial.obs_names.astype(str)),
        var=pd.DataFrame(index=input_genes),
    )
    tg.pp_adatas(ad_sc, ad_sp, genes=input_genes)
    ad_map = tg.map_cells_to_space(
        ad_sc,
        ad_sp,
        mode="cells",
        device=device,
        num_epochs=num_epochs,
        learning_rate=learning_rate,
        density_prior=density_prior,
        random_state=seed,
        verbose=False,
    )
    mapping = np.asarray(ad_map.X, dtype=np.float64)  # cells x spots
    mass = mapping.sum(axis=0)
    weights = mapping / np.where(mass > 0, mass, 1.0)
    ref_share = shares(reference, targets, input_genes)
    pred_share = np.asarray((ref_share.T @ weights).T)
    counts = pred_share * input_depth(spatial, input_genes)[:, None]
    expressed = np.asarray(((ref_share > 0).astype(np.float64).T @ (weights > 1e-6)).T) > 0

    cell_types = reference.obs[Keys.obs.cell_type].astype(str)
    onehot = pd.get_dummies(cell_types).astype(float)
    type_mass = weights.T @ onehot.to_numpy()
    labels = pd.Series(pd.Categorical(onehot.columns.to_numpy()[type_mass.argmax(axis=1)]), index=spatial.obs_names)
    history = ad_map.uns.get("training_history", {})
    main_loss = history.get("main_loss", [np.nan]) if isinstance(history, dict) else [np.nan]
    return ImputationResult(
        counts=counts,
        targets=targets,
        guard=~expressed,
        labels=labels,
        extra={"num_epochs": num_epochs, "training_score": float(np.asarray(main_loss[-1], dtype=float))},
    )
