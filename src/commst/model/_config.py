"""Hyper-parameters and ablation switches of the CommST model (one source of defaults), and its device."""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from typing import Any, Literal

import torch

logger = logging.getLogger(__name__)


@dataclass
class CommSTConfig:
    """Every hyper-parameter and ablation switch of the CommST model, with its default.

    The workflow's config schema mirrors these defaults under ``model:``.

    Attributes
    ----------
    latent_dim
        Size of the shared latent space of spots and reference cells.
    hidden
        Width of the hidden layer of encoder and decoder.
    dropout
        Dropout rate in encoder and decoder (also used for nothing else).
    epochs
        Maximum number of epochs (pretraining included).
    pretrain_epochs
        Epochs on the reference alone (reconstruction of ``T`` from thinned input) before
        the spot terms, the alignment and the priors are switched on.
    batch_size
        Reference cells (and as many spots) per mini-batch.
    min_steps_per_epoch
        Small references are cycled through so that an epoch has at least this many steps.
    max_cells_per_epoch
        Large data: each epoch draws this many training cells (and at most as many spots) at
        random, and the latent neighbours of its spots are found among its cells, so an
        epoch's cost stops growing with the data (``None`` = every cell, every epoch). Data
        at or below this size train exactly as without the cap.
    lr, weight_decay
        AdamW learning rate and weight decay.
    k_neighbours
        Reference neighbours per spot in latent space: soft targets, guard, uncertainty, labels.
    knn_every
        Recompute the latent neighbours every this many epochs.
    input_scaling
        ``'modality'``: z-score each input gene within each modality (removes platform-wide
        per-gene capture bias); ``'reference'``: z-score both with the reference's statistics.
    thinning
        Binomially thin reference counts to the spatial library-size distribution during
        training (ablation switch; ``False`` = encoder reads full-depth reference input).
    lr_focus
        Decode only the LR targets with per-gene variance-weighted loss (ablation switch;
        ``False`` = decode targets and input genes with an unweighted loss, then keep targets).
    guard
        Zero (and flag) a spot's value for a gene that its matched reference neighbours do
        not express (ablation switch).
    guard_k
        Matched reference cells per spot that the guard looks at (their nearest in latent
        space; at least ``k_neighbours``).
    guard_min_frac
        A gene is guarded in a spot when fewer than this share of its ``guard_k`` matched
        reference cells have a non-zero count.
    spatial_observed
        Add a Poisson likelihood on target genes the spatial data measured, at a learned
        per-gene spatial capture rate (ablation switch).
    w_spot
        Weight of the spot soft targets (weighted mean of the latent neighbours' expression).
    w_obs
        Weight of the spatial-observed likelihood.
    w_align
        Weight of the mutual-nearest-neighbour alignment of spot and cell latents.
    w_ppi
        Weight of the graph-Laplacian smoothness of spot predictions over the PPI/LR gene graph
        (0 = off; needs ``ppi``).
    w_nichenet
        Weight of the NicheNet consistency term (0 = off; needs ``ligand_target``).
    spatial_k
        Spatial neighbours per spot for the NicheNet ligand signal.
    blend
        Share of the final prediction taken from the latent neighbours' weighted mean
        (the rest from the decoder).
    device
        ``'auto'`` (CUDA when present, else CPU), ``'cpu'`` or ``'cuda'``.
    seed
        Seed of every random choice (batches, thinning, dropout, validation split).
    patience
        Early stopping: epochs without improvement of the validation loss.
    min_delta
        Smallest decrease of the validation loss that counts as improvement.
    val_fraction
        Share of reference cells (and spots) held out for the validation loss.
    num_threads
        Torch CPU threads (``None`` = leave torch's setting).
    """

    latent_dim: int = 32
    hidden: int = 256
    dropout: float = 0.1
    epochs: int = 60
    pretrain_epochs: int = 10
    batch_size: int = 256
    min_steps_per_epoch: int = 20
    max_cells_per_epoch: int | None = 20_000
    lr: float = 1e-3
    weight_decay: float = 1e-4
    k_neighbours: int = 15
    knn_every: int = 1
    input_scaling: Literal["modality", "reference"] = "modality"
    thinning: bool = True
    lr_focus: bool = True
    guard: bool = True
    guard_k: int = 30
    guard_min_frac: float = 0.02
    spatial_observed: bool = True
    w_spot: float = 1.0
    w_obs: float = 0.1
    w_align: float = 0.1
    w_ppi: float = 0.05
    w_nichenet: float = 0.05
    spatial_k: int = 6
    blend: float = 0.0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int = 0
    patience: int = 10
    min_delta: float = 1e-4
    val_fraction: float = 0.1
    num_threads: int | None = None

    def __post_init__(self) -> None:
        checks = {
            "latent_dim": self.latent_dim >= 1,
            "hidden": self.hidden >= 1,
            "epochs": self.epochs >= 1,
            "pretrain_epochs": 0 <= self.pretrain_epochs,
            "batch_size": self.batch_size >= 2,
            "min_steps_per_epoch": self.min_steps_per_epoch >= 1,
            "max_cells_per_epoch": self.max_cells_per_epoch is None or self.max_cells_per_epoch >= self.batch_size,
            "k_neighbours": self.k_neighbours >= 1,
            "guard_k": self.guard_k >= 1,
            "knn_every": self.knn_every >= 1,
            "dropout": 0.0 <= self.dropout < 1.0,
            "val_fraction": 0.0 <= self.val_fraction < 0.5,
            "guard_min_frac": 0.0 <= self.guard_min_frac <= 1.0,
            "blend": 0.0 <= self.blend <= 1.0,
            "input_scaling": self.input_scaling in ("modality", "reference"),
            "device": self.device in ("auto", "cpu", "cuda"),
        }
        for name in ("w_spot", "w_obs", "w_align", "w_ppi", "w_nichenet", "lr", "weight_decay"):
            checks[name] = getattr(self, name) >= 0
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(
                "invalid CommST model setting(s): "
                + ", ".join(f"{name}={getattr(self, name)!r}" for name in bad)
                + "; see CommSTConfig's docstring for the allowed ranges (config section `model:`)"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of all settings (for ``uns`` and checkpoints)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> CommSTConfig:
        """Build from a dict (e.g. the workflow's ``model:`` section), rejecting unknown keys."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown CommST model setting(s) {unknown}; known settings: {sorted(known)}")
        return cls(**values)

    def replace(self, **changes: Any) -> CommSTConfig:
        """Copy with ``changes`` applied (unknown names are an error)."""
        return CommSTConfig.from_dict({**self.to_dict(), **changes})


def resolve_device(device: str) -> torch.device:
    """``'auto'`` → CUDA when available, else CPU; ``'cuda'`` without a GPU is an error."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        granted = {
            k: os.environ[k] for k in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_GPUS", "SLURM_STEP_GPUS") if os.environ.get(k)
        }
        if granted:
            logger.warning(
                "this job was granted a GPU (%s) but torch finds no usable CUDA device "
                "(CPU-only torch build, or driver mismatch); training falls back to the CPU",
                ", ".join(f"{k}={v}" for k, v in granted.items()),
            )
        return torch.device("cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("model.device is 'cuda' but torch sees no CUDA device; set model.device to 'auto' or 'cpu'")
    return torch.device(device)
