"""PyTorch modules of the CommST model."""

from __future__ import annotations

import torch
from torch import nn


def _mlp(n_in: int, hidden: int, n_out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(n_in, hidden),
        nn.LayerNorm(hidden),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, n_out),
    )


class CommSTNet(nn.Module):
    """Shared encoder of spots and cells (modality-specific input scaling happens before it),
    a decoder of the target genes only, and a learned per-gene spatial capture rate.

    The latent is layer-normalised without affine parameters, so distances in it keep a
    fixed scale (the alignment term cannot be met by shrinking the space).
    """

    def __init__(self, n_inputs: int, n_decoded: int, n_observed: int, *, latent_dim: int, hidden: int, dropout: float):
        super().__init__()
        self.encoder = _mlp(n_inputs, hidden, latent_dim, dropout)
        self.latent_norm = nn.LayerNorm(latent_dim, elementwise_affine=False)
        self.decoder = _mlp(latent_dim, hidden, n_decoded, dropout)
        # log of spatial capture relative to the reference, per observed target gene
        self.log_capture = nn.Parameter(torch.zeros(n_observed))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent coordinates of scaled log-normalised input rows."""
        return self.latent_norm(self.encoder(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Predicted ``log1p(counts / input-library * 1e4)`` of the decoded genes (non-negative)."""
        return nn.functional.softplus(self.decoder(z))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encode(x)
        return z, self.decode(z)
