"""The CommST network and its loss: encoder, decoder, spatial capture rate, and every loss term.

The module follows scvi-tools' contract: the network maps inputs to latents and decoded
expression (:meth:`CommSTModule.forward`), and :meth:`CommSTModule.loss` turns one
:class:`Batch` into a dict of weighted loss terms. What the terms need besides the batch (gene
weights, prior graphs, weights of the config) is a :class:`LossSetup`, given by the training
plan; a module built for imputation alone has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from ._penalties import laplacian_penalty, nichenet_penalty

if TYPE_CHECKING:
    from ._config import CommSTConfig


def _mlp(n_in: int, hidden: int, n_out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(n_in, hidden),
        nn.LayerNorm(hidden),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, n_out),
    )


@dataclass
class NicheNetBatch:
    """Inputs of the NicheNet term for a batch's first spots.

    Attributes
    ----------
    x_around
        Encoder input of every spot around them (their spatial neighbours).
    weights
        Batch spots × spots around: row-normalised spatial weights.
    observed
        Their observed log-normalised expression of the response genes.
    """

    x_around: torch.Tensor
    weights: torch.Tensor
    observed: torch.Tensor


@dataclass
class Batch:
    """One mini-batch of the training plan, as tensors on the model's device.

    Attributes
    ----------
    x_ref, y_ref
        Encoder input of reference cells (thinned) and their log-normalised decoded genes.
    x_spot
        Encoder input of spots; ``None`` when the step has no spot term.
    y_obs, lib_obs
        Observed counts of the targets the spots measured, and the spots' input libraries
        (``None`` when the spatial likelihood is off).
    phase2
        The spot terms, the alignment and the priors are on (after pretraining).
    soft
        Spot soft targets: the weighted mean of the latent neighbours' expression.
    x_partner, has_partner
        Encoder input of the spots' mutual-nearest-neighbour partners, and which spots have one.
    nichenet
        Inputs of the NicheNet term.
    """

    x_ref: torch.Tensor
    y_ref: torch.Tensor
    x_spot: torch.Tensor | None = None
    y_obs: torch.Tensor | None = None
    lib_obs: torch.Tensor | None = None
    phase2: bool = False
    soft: torch.Tensor | None = None
    x_partner: torch.Tensor | None = None
    has_partner: torch.Tensor | None = None
    nichenet: NicheNetBatch | None = None


@dataclass
class LossSetup:
    """What the loss terms need besides a batch.

    Attributes
    ----------
    gene_w
        Per decoded gene weights of the reconstruction terms.
    obs_w, obs_idx
        Per observed-target weights of the spatial likelihood and their decoded columns.
    n_targets
        Decoded columns that are LR targets (the PPI term acts on them).
    target_sum
        Scale of the log-normalisation (``log1p(counts / library × target_sum)``).
    w_obs, w_spot, w_align, w_ppi, w_nichenet
        Weights of the terms (:class:`~commst.model.CommSTConfig`).
    latent_dim
        Size of the latent space (scales the alignment term).
    edges
        PPI edges ``(i, j, w)`` among the targets (``None``: term off).
    nichenet_matrix, ligand_idx
        Response genes × ligands of the NicheNet term and the ligands' decoded columns
        (``None``: term off).
    """

    gene_w: torch.Tensor
    obs_w: torch.Tensor
    obs_idx: np.ndarray
    n_targets: int
    target_sum: float
    w_obs: float
    w_spot: float
    w_align: float
    w_ppi: float
    w_nichenet: float
    latent_dim: int
    edges: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
    nichenet_matrix: torch.Tensor | None = None
    ligand_idx: np.ndarray | None = None


class CommSTModule(nn.Module):
    """Shared encoder of spots and cells (modality-specific input scaling happens before it),
    a decoder of the target genes only, and a learned per-gene spatial capture rate.

    The latent is layer-normalised without affine parameters, so distances in it keep a
    fixed scale (the alignment term cannot be met by shrinking the space).
    """

    def __init__(
        self,
        n_inputs: int,
        n_decoded: int,
        n_observed: int,
        *,
        latent_dim: int,
        hidden: int,
        dropout: float,
        setup: LossSetup | None = None,
    ):
        super().__init__()
        self.encoder = _mlp(n_inputs, hidden, latent_dim, dropout)
        self.latent_norm = nn.LayerNorm(latent_dim, elementwise_affine=False)
        self.decoder = _mlp(latent_dim, hidden, n_decoded, dropout)
        # log of spatial capture relative to the reference, per observed target gene
        self.log_capture = nn.Parameter(torch.zeros(n_observed))
        self.setup = setup  # a plain attribute: not part of the state dict

    @classmethod
    def from_config(cls, n_inputs: int, n_decoded: int, n_observed: int, config: CommSTConfig) -> CommSTModule:
        """The network of ``config``'s sizes (``latent_dim``, ``hidden``, ``dropout``), untrained."""
        return cls(
            n_inputs,
            n_decoded,
            n_observed,
            latent_dim=config.latent_dim,
            hidden=config.hidden,
            dropout=config.dropout,
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent coordinates of scaled log-normalised input rows."""
        return self.latent_norm(self.encoder(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Predicted ``log1p(counts / input-library × target_sum)`` of the decoded genes (non-negative)."""
        return nn.functional.softplus(self.decoder(z))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encode(x)
        return z, self.decode(z)

    # ----- loss terms ----------------------------------------------------------------------
    def reference_loss(self, m: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Gene-weighted squared error of decoded reference cells."""
        return ((m - y).pow(2) * self.setup.gene_w).mean()

    def observed_loss(self, m_s: torch.Tensor, y: torch.Tensor, lib: torch.Tensor) -> torch.Tensor:
        """Poisson likelihood of the targets the spots measured, at the learned capture rate."""
        s = self.setup
        rate = torch.expm1(m_s[:, s.obs_idx]) / s.target_sum * lib * torch.exp(self.log_capture) + 1e-6
        nll = rate - y * torch.log(rate) + torch.lgamma(y + 1.0)
        return (nll * s.obs_w).mean()

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The weighted loss terms of one batch (their sum is the training loss).

        ``ref`` always; ``obs`` for spots with observed targets; after pretraining (``phase2``)
        ``spot`` (soft targets), ``align`` (partners), ``ppi`` and ``nichenet`` (priors), each
        when its inputs are in the batch. Forward passes run in that order (dropout draws
        follow it).
        """
        s = self.setup
        terms: dict[str, torch.Tensor] = {}
        _, m_c = self(batch.x_ref)
        terms["ref"] = self.reference_loss(m_c, batch.y_ref)
        if batch.x_spot is None:
            return terms
        z_s, m_s = self(batch.x_spot)
        if batch.y_obs is not None:
            terms["obs"] = s.w_obs * self.observed_loss(m_s, batch.y_obs, batch.lib_obs)
        if not batch.phase2:
            return terms
        if batch.soft is not None:
            terms["spot"] = s.w_spot * ((m_s - batch.soft).pow(2) * s.gene_w).mean()
        if batch.x_partner is not None:
            z_p = self.encode(batch.x_partner)
            terms["align"] = s.w_align * (z_s[batch.has_partner] - z_p).pow(2).sum(1).mean() / s.latent_dim
        n_spots = batch.x_spot.shape[0]
        if s.edges is not None and n_spots > 2:
            terms["ppi"] = s.w_ppi * laplacian_penalty(m_s[:, : s.n_targets], s.edges)
        if batch.nichenet is not None:
            nn_b = batch.nichenet
            _, m_u = self(nn_b.x_around)
            received = nn_b.weights @ m_u[:, s.ligand_idx]
            terms["nichenet"] = s.w_nichenet * nichenet_penalty(received, s.nichenet_matrix, nn_b.observed)
        return terms
