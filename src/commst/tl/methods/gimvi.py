"""The ``gimvi`` baseline: gimVI (Lopez et al. 2019) from scvi-tools (``scvi.external.GIMVI``).

The reference (all targets and inputs) and the spatial data (inputs only) are modelled jointly
on raw counts (ZINB for the reference, NB for the spatial data, as in the scvi-tools
tutorial and Li et al. 2022); the spatial cells' imputed normalised expression of a target,
divided by their imputed expression summed over the input genes, is the target's share, and
shares become expected counts at spot depth.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd

from ...pp import counts_matrix
from .._types import ImputationResult
from ._common import check_genes, input_depth

logger = logging.getLogger(__name__)


def impute_gimvi(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    *,
    targets: Sequence[str],
    input_genes: Sequence[str],
    seed: int = 0,
    max_epochs: int = 200,
    n_latent: int = 10,
    accelerator: str = "auto",
    batch_size: int = 128,
    early_stopping: bool = True,
) -> ImputationResult:
    """Impute targets with gimVI.

    Parameters
    ----------
    spatial, reference
        Raw counts in ``layers['counts']`` (or ``X``); reference ``obs['cell_type']``.
    targets
        Genes to impute (reference genes).
    input_genes
        Genes measured in both; the spatial data enter with these only.
    seed
        ``scvi.settings.seed``.
    max_epochs
        Training epochs (200 as in Li et al. 2022).
    n_latent
        Latent dimensions.
    accelerator
        Lightning accelerator (``"cpu"``, ``"gpu"``, ``"auto"``).
    batch_size
        Minibatch size.
    early_stopping
        Stop when the validation ELBO has not improved for 45 epochs (scvi-tools'
        ``early_stopping``; ``max_epochs`` is then a cap): trained to convergence, not to a count.

    Returns
    -------
    :class:`commst.tl.ImputationResult` (no labels, guard or uncertainty).
    """
    import scvi
    from scvi.external import GIMVI

    targets, input_genes = check_genes(spatial, reference, targets, input_genes, "gimvi")
    scvi.settings.seed = seed
    seq_genes = list(dict.fromkeys([*input_genes, *targets]))
    ad_seq = ad.AnnData(
        X=counts_matrix(reference[:, seq_genes]).astype(np.float32),
        obs=pd.DataFrame(index=reference.obs_names.astype(str)),
        var=pd.DataFrame(index=seq_genes),
    )
    ad_sp = ad.AnnData(
        X=counts_matrix(spatial[:, input_genes]).astype(np.float32),
        obs=pd.DataFrame(index=spatial.obs_names.astype(str)),
        var=pd.DataFrame(index=input_genes),
    )
    # gimVI cannot use cells without counts over the modelled genes
    keep_seq = np.asarray(ad_seq.X.sum(axis=1)).ravel() > 0
    ad_seq = ad_seq[keep_seq].copy()
    sp_ok = np.asarray(ad_sp.X.sum(axis=1)).ravel() > 0
    ad_sp_fit = ad_sp[sp_ok].copy()
    GIMVI.setup_anndata(ad_seq)
    GIMVI.setup_anndata(ad_sp_fit)
    model = GIMVI(ad_seq, ad_sp_fit, generative_distributions=["zinb", "nb"], n_latent=n_latent)
    model.train(
        max_epochs=max_epochs,
        accelerator=accelerator,
        batch_size=batch_size,
        early_stopping=early_stopping,
        enable_progress_bar=False,
    )
    epochs = len(model.history.get("elbo_train", [])) if hasattr(model, "history") and model.history else max_epochs
    _, imputed = model.get_imputed_values(normalized=True)
    imputed = np.asarray(imputed, dtype=np.float64)  # spots x seq_genes
    col = {g: i for i, g in enumerate(seq_genes)}
    in_total = imputed[:, [col[g] for g in input_genes]].sum(axis=1)
    share = imputed[:, [col[g] for g in targets]] / np.maximum(in_total, 1e-12)[:, None]
    counts = np.zeros((spatial.n_obs, len(targets)))
    counts[sp_ok] = share * input_depth(spatial, input_genes)[sp_ok, None]
    return ImputationResult(
        counts=counts,
        targets=targets,
        extra={
            "max_epochs": max_epochs,
            "epochs_trained": int(epochs),
            "n_latent": n_latent,
            "n_spots_without_counts": int((~sp_ok).sum()),
        },
    )
