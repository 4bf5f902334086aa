"""The ``hvg_ae`` baseline: a generic denoising autoencoder over highly variable genes.

The usual deep-learning imputer, without any LR focus: a multilayer autoencoder is trained on
the reference to reconstruct its expression profile over the highly variable genes (HVGs),
the input genes and the targets, from the input genes alone (masking noise on the input);
spots are then passed through the same network. The loss is a plain mean squared error over
all output genes, so abundant, variable genes dominate it — exactly the behaviour CommST is
compared against.

Scale: inputs are ``log1p(share × target_sum)`` of the input genes, z-scored per gene within each
modality (removing platform-wide shifts, as :func:`commst.tl.shared_embedding` does);
outputs are ``log1p(share × target_sum)`` of the output genes, turned into expected counts at spot
depth.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import anndata as ad
import numpy as np
import scanpy as sc
import torch
from torch import nn
from tqdm.auto import trange

from ..._utils import zscore
from ...pp import counts_from_lognorm, target_sum_of
from .._types import ImputationResult
from ._common import (
    check_genes,
    input_depth,
    log_shares,
)

logger = logging.getLogger(__name__)


def _hvgs(reference: ad.AnnData, n_top: int, exclude: set[str]) -> list[str]:
    """Top ``n_top`` HVGs of the reference (scanpy ``seurat`` flavour on log-normalised X)."""
    cand = reference[:, [g for g in reference.var_names if g not in exclude]].copy()
    sc.pp.filter_genes(cand, min_cells=3)
    if cand.n_vars == 0:
        return []
    n_top = int(min(n_top, cand.n_vars))
    sc.pp.highly_variable_genes(cand, n_top_genes=n_top, flavor="seurat")
    return list(cand.var_names[cand.var["highly_variable"].to_numpy()])


class _AutoEncoder(nn.Module):
    def __init__(self, n_in: int, n_out: int, hidden: int, latent: int, dropout: float) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(n_in, hidden),
            nn.ReLU(),
            nn.Linear(hidden, latent),
        )
        self.decoder = nn.Sequential(nn.ReLU(), nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def impute_hvg_ae(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    *,
    targets: Sequence[str],
    input_genes: Sequence[str],
    seed: int = 0,
    n_hvg: int = 2000,
    hidden: int = 256,
    latent: int = 32,
    dropout: float = 0.2,
    epochs: int = 100,
    batch_size: int = 128,
    lr: float = 1e-3,
    device: str = "cpu",
    verbose: bool = False,
) -> ImputationResult:
    """Impute targets with a generic autoencoder trained on the reference's HVG profile.

    Parameters
    ----------
    spatial, reference
        Raw counts in ``layers['counts']`` (or ``X``); reference ``obs['cell_type']``.
        The reference ``X`` is used for HVG selection (log-normalised, as prepared).
    targets
        Genes to impute (reference genes).
    input_genes
        Genes measured in both: the network's input.
    seed
        Seed of torch and of the minibatch order.
    n_hvg
        Number of reference HVGs added to the output layer (the input genes and targets are
        always outputs).
    hidden, latent, dropout
        Width of the hidden layers, of the bottleneck, and input masking rate.
    epochs, batch_size, lr
        Adam training schedule.
    device
        Torch device.
    verbose
        Show a progress bar over epochs.

    Returns
    -------
    :class:`commst.tl.ImputationResult`; ``extra`` holds ``n_outputs`` and ``final_loss``.
    """
    targets, input_genes = check_genes(spatial, reference, targets, input_genes, "hvg_ae")
    hvgs = _hvgs(reference, n_hvg, exclude=set(targets) | set(input_genes))
    outputs = list(dict.fromkeys([*targets, *input_genes, *hvgs]))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)

    x_ref = torch.tensor(zscore(log_shares(reference, input_genes, input_genes)), dtype=torch.float32)
    y_ref = torch.tensor(log_shares(reference, outputs, input_genes), dtype=torch.float32)
    x_sp = torch.tensor(zscore(log_shares(spatial, input_genes, input_genes)), dtype=torch.float32)
    model = _AutoEncoder(len(input_genes), len(outputs), hidden, latent, dropout).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    x_ref, y_ref = x_ref.to(device), y_ref.to(device)
    loss = torch.tensor(float("nan"))
    model.train()
    for _ in trange(epochs, desc="hvg_ae", disable=not verbose):
        order = torch.as_tensor(rng.permutation(x_ref.shape[0]), device=device)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(x_ref[batch]), y_ref[batch])
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        pred = model(x_sp.to(device))[:, : len(targets)].cpu().numpy().astype(np.float64)
    counts = counts_from_lognorm(pred, input_depth(spatial, input_genes), target_sum=target_sum_of(spatial), clip=True)
    return ImputationResult(
        counts=counts,
        targets=targets,
        extra={"n_outputs": len(outputs), "n_hvg": len(hvgs), "final_loss": float(loss.detach().cpu())},
    )
