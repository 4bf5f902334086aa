"""The training plan of the CommST model: optimiser, steps, validation, early stopping, checkpoints.

:class:`TrainingPlan` keeps all of a run's state on one object, so a run can be checkpointed
after every epoch and resumed (:func:`resume`) to the same bytes. What the network computes
and what each loss term is lives in :mod:`._module`; which rows an epoch sees, in :mod:`._data`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ._config import CommSTConfig
from ._data import ModelData, cells_of, draw_epoch_sample, embed, lognorm, split_data, spots_of
from ._io import safe_load, to_numpy, to_tensors, unreadable
from ._module import Batch, CommSTModule, LossSetup, NicheNetBatch
from ._neighbours import gather_rows, knn, mutual_partners, neighbour_weights
from ._penalties import build_nichenet_prior, gene_graph_edges

logger = logging.getLogger(__name__)

#: File name of the checkpoint written after every epoch.
CHECKPOINT_NAME = "last.pt"
#: Format tag of checkpoints (tensors and plain data; ``weights_only=True`` loads them).
CHECKPOINT_FORMAT = "commst-checkpoint-1"
#: Spots per mini-batch that the NicheNet term looks at (with their spatial neighbours).
_NICHENET_SPOTS = 64


def fingerprint(config: CommSTConfig, data: ModelData) -> str:
    """Checksum of what a checkpoint must agree on to be resumed: every setting but the device.

    ``epochs`` and ``patience`` are included: a run resumed under other stopping rules would
    not be the run the config describes; so is the data's ``target_sum``.
    """
    settings = {k: v for k, v in config.to_dict().items() if k not in ("device", "num_threads")}
    key = json.dumps(
        [
            settings,
            data.input_genes,
            data.decoded,
            data.observed,
            data.n_spots,
            data.n_cells,
            float(data.sp_lib.sum()),
            float(data.ref_lib.sum()),
            data.target_sum,
        ],
        sort_keys=True,
    )
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _gene_weights(data: ModelData, lr_focus: bool) -> np.ndarray:
    """Per decoded gene loss weights: variance-standardised with LR focus (low-abundance genes
    count as much as abundant ones), uniform without."""
    if not lr_focus:
        return np.ones(len(data.decoded))
    y = data.ref_out_log
    mean = np.asarray(y.mean(0)).ravel()
    var = np.asarray(y.multiply(y).mean(0)).ravel() - mean**2
    w = 1.0 / np.maximum(var, 1e-2)
    return w / w.mean()


class TrainingPlan:
    """One training run (state kept on the object so it can be checkpointed)."""

    def __init__(
        self,
        data: ModelData,
        config: CommSTConfig,
        *,
        ppi: Any,
        ligand_target: pd.DataFrame | None,
        coords: np.ndarray | None,
        device: torch.device,
    ):
        self.data, self.c, self.device = data, config, device
        c = config
        self.rng = np.random.default_rng(c.seed)
        torch.manual_seed(c.seed)
        self.split = split_data(data.n_cells, data.n_spots, c.val_fraction, self.rng)
        self.epoch_cells, self.epoch_spots = self.split.train_cells, self.split.train_spots
        self.cells, self.spots = cells_of(data, thinning=c.thinning), spots_of(data)
        self.net = CommSTModule.from_config(len(data.input_genes), len(data.decoded), len(data.observed), c).to(device)
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        obs_mean = np.asarray(data.sp_obs.mean(0)).ravel() if data.observed else np.zeros(0)
        setup = LossSetup(
            gene_w=torch.tensor(_gene_weights(data, c.lr_focus), dtype=torch.float32, device=device),
            obs_w=torch.tensor(1.0 / np.maximum(obs_mean, 1e-3), dtype=torch.float32, device=device),
            obs_idx=data.obs_idx,
            n_targets=len(data.targets),
            target_sum=data.target_sum,
            w_obs=c.w_obs,
            w_spot=c.w_spot,
            w_align=c.w_align,
            w_ppi=c.w_ppi,
            w_nichenet=c.w_nichenet,
            latent_dim=c.latent_dim,
        )
        if c.w_ppi > 0 and ppi is not None:
            i, j, ew = gene_graph_edges(ppi, data.targets)
            if len(i):
                setup.edges = tuple(torch.as_tensor(a, device=device) for a in (i, j, ew))
                logger.info("PPI term: %d edges among %d targets", len(i), len(data.targets))
            else:
                logger.warning("PPI term off: the gene graph has no edge among the targets")
        self.nichenet = None
        if c.w_nichenet > 0 and ligand_target is not None and coords is not None:
            self.nichenet = build_nichenet_prior(
                ligand_target, decoded=data.decoded, input_genes=data.input_genes, coords=coords, spatial_k=c.spatial_k
            )
            if self.nichenet is not None:
                setup.nichenet_matrix = torch.as_tensor(self.nichenet.matrix, device=device)
                setup.ligand_idx = self.nichenet.ligand_idx
        self.net.setup = setup

        # fixed thinning of the validation cells, so the validation loss is comparable across epochs
        self.val_x = self.cells.rows(self.split.val_cells, np.random.default_rng(c.seed + 1), device)
        self.epoch = 0
        self.history: list[dict[str, float]] = []
        self.best_val = math.inf
        self.best_state: dict[str, torch.Tensor] | None = None
        self.bad_epochs = 0
        self.stopped_early = False
        self.done = False
        self.nb_idx: np.ndarray | None = None
        self.nb_w: np.ndarray | None = None
        self.partner: np.ndarray | None = None

    @property
    def subsampled(self) -> bool:
        """Whether an epoch works on a random draw of the training rows (``max_cells_per_epoch``)."""
        cap, s = self.c.max_cells_per_epoch, self.split
        return cap is not None and max(len(s.train_cells), len(s.train_spots)) > cap

    # ----- neighbours in latent space -------------------------------------------------------
    def update_neighbours(self) -> None:
        """Latent kNN of the epoch's spots among its cells (soft targets) and MNN partners (alignment).

        Without subsampling every spot (validation spots included) is embedded and queried
        against all training cells.
        """
        c, n = self.c, self.data.n_spots
        rng = np.random.default_rng(c.seed + 1000 + self.epoch)
        spots = self.epoch_spots if self.subsampled else np.arange(n)
        cells = self.epoch_cells
        z_s, _ = embed(self.net, self.spots, spots, None, self.device, latent_dim=c.latent_dim)
        z_c, _ = embed(self.net, self.cells, cells, rng, self.device, latent_dim=c.latent_dim)
        idx, dist = knn(z_s, z_c, c.k_neighbours, c.seed)
        k = idx.shape[1]
        self.nb_idx = np.full((n, k), -1, dtype=np.int64)
        self.nb_w = np.zeros((n, k), dtype=np.float32)
        self.nb_idx[spots] = cells[idx]
        self.nb_w[spots] = neighbour_weights(dist)
        local = mutual_partners(idx, z_s, z_c, c.k_neighbours, c.seed)
        self.partner = np.full(n, -1, dtype=np.int64)
        self.partner[spots] = np.where(local >= 0, cells[local], -1)

    # ----- one epoch ------------------------------------------------------------------------
    def _batch(self, cb: np.ndarray, sb: np.ndarray | None, phase2: bool) -> Batch:
        """The tensors of one step: cells ``cb`` and (when spot terms are on) spots ``sb``."""
        c, d, dev = self.c, self.data, self.device
        batch = Batch(
            x_ref=self.cells.rows(cb, self.rng, dev), y_ref=torch.from_numpy(d.ref_out_log[cb].toarray()).to(dev)
        )
        if sb is None:
            return batch
        batch.x_spot = self.spots.rows(sb, None, dev)
        if len(d.observed) and c.w_obs > 0:
            batch.y_obs = torch.from_numpy(d.sp_obs[sb].toarray()).to(dev)
            batch.lib_obs = torch.from_numpy(d.sp_lib[sb]).to(dev)[:, None]
        batch.phase2 = phase2
        if not phase2:
            return batch
        if c.w_spot > 0:
            batch.soft = torch.from_numpy(gather_rows(d.ref_out_log, self.nb_idx[sb], self.nb_w[sb])).to(dev)
        if c.w_align > 0:
            has = self.partner[sb] >= 0
            if has.any():
                batch.x_partner = self.cells.rows(self.partner[sb][has], self.rng, dev)
                batch.has_partner = torch.from_numpy(has).to(dev)
        if self.nichenet is not None and len(sb) > 2:
            nn = self.nichenet
            first = sb[:_NICHENET_SPOTS]  # the neighbours of each spot are encoded too: keep it cheap
            rows = nn.graph[first]
            around = np.unique(rows.indices)
            observed = lognorm(d.sp_in[first].toarray(), d.sp_lib[first], d.target_sum)[:, nn.response_idx]
            batch.nichenet = NicheNetBatch(
                x_around=self.spots.rows(around, None, dev),
                weights=torch.from_numpy(rows[:, around].toarray()).to(dev),
                observed=torch.from_numpy(observed).to(dev),
            )
        return batch

    def run_epoch(self) -> dict[str, float]:
        """One epoch of optimiser steps; returns the mean of each loss term, ``train``, ``val``, ``phase``."""
        c, d = self.c, self.data
        phase2 = self.epoch >= c.pretrain_epochs
        new_neighbours = phase2 and (self.nb_idx is None or (self.epoch - c.pretrain_epochs) % c.knn_every == 0)
        if new_neighbours or not phase2:
            self.epoch_cells, self.epoch_spots = draw_epoch_sample(self.split, c.max_cells_per_epoch, self.rng)
        if new_neighbours:
            self.update_neighbours()
        self.net.train()
        order_c = self.rng.permutation(self.epoch_cells)
        order_s = self.rng.permutation(self.epoch_spots)
        n_steps = max(c.min_steps_per_epoch, math.ceil(len(order_c) / c.batch_size))
        if n_steps * c.batch_size > len(order_c):  # small references: cycle through fresh permutations
            reps = math.ceil(n_steps * c.batch_size / len(order_c))
            order_c = np.concatenate([order_c] + [self.rng.permutation(self.epoch_cells) for _ in range(reps - 1)])
        use_spots = len(order_s) > 1 and (phase2 or (c.spatial_observed and len(d.observed) > 0))
        totals: dict[str, float] = {}
        for step in range(n_steps):
            cb = order_c[step * c.batch_size : (step + 1) * c.batch_size]
            sb = None
            if use_spots:
                sb = np.unique(
                    np.take(order_s, np.arange(step * c.batch_size, (step + 1) * c.batch_size) % len(order_s))
                )
            terms = self.net.loss(self._batch(cb, sb, phase2))
            loss = sum(terms.values())
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            for k, v in terms.items():
                totals[k] = totals.get(k, 0.0) + float(v.detach()) / n_steps
        totals["train"] = sum(totals.values())
        totals["val"] = self.validation_loss()
        totals["phase"] = 2.0 if phase2 else 1.0
        return totals

    @torch.no_grad()
    def validation_loss(self) -> float:
        """Reference reconstruction of held-out cells (fixed thinning) plus the spatial
        likelihood on held-out spots."""
        d, dev, val_cells, val_spots = self.data, self.device, self.split.val_cells, self.split.val_spots
        self.net.eval()
        if len(val_cells):
            _, m = self.net(self.val_x)
            val = float(self.net.reference_loss(m, torch.from_numpy(d.ref_out_log[val_cells].toarray()).to(dev)))
        else:
            val = 0.0
        if len(val_spots) and len(d.observed) and self.c.w_obs > 0:
            _, m_s = self.net(self.spots.rows(val_spots, None, dev))
            y = torch.from_numpy(d.sp_obs[val_spots].toarray()).to(dev)
            lib = torch.from_numpy(d.sp_lib[val_spots]).to(dev)[:, None]
            val += self.c.w_obs * float(self.net.observed_loss(m_s, y, lib))
        return val

    def step_early_stopping(self, val: float) -> None:
        """Track the best weights; in the fine-tuning phase count epochs without improvement."""
        if self.epoch == self.c.pretrain_epochs:  # new objective: restart the bookkeeping
            self.best_val, self.bad_epochs = math.inf, 0
        if val < self.best_val - self.c.min_delta:
            self.best_val, self.bad_epochs = val, 0
            self.best_state = copy.deepcopy(self.net.state_dict())
        else:
            self.bad_epochs += 1
        in_last_phase = self.epoch >= self.c.pretrain_epochs or self.c.pretrain_epochs >= self.c.epochs
        self.stopped_early = in_last_phase and self.bad_epochs >= self.c.patience
        self.done = self.stopped_early or self.epoch + 1 >= self.c.epochs

    # ----- checkpoints ----------------------------------------------------------------------
    def state_dict(self, fingerprint: str) -> dict[str, Any]:
        """Everything a resumed run needs, as tensors and plain data (``weights_only=True`` loads it)."""
        arrays = ("nb_idx", "nb_w", "partner", "epoch_cells", "epoch_spots")
        return {
            "format": CHECKPOINT_FORMAT,
            "fingerprint": fingerprint,
            "epoch": self.epoch,
            "net": self.net.state_dict(),
            "opt": self.opt.state_dict(),
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "history": self.history,
            "best_val": self.best_val,
            "best_state": self.best_state,
            "bad_epochs": self.bad_epochs,
            "stopped_early": self.stopped_early,
            **{name: to_tensors(getattr(self, name)) for name in arrays},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = state["epoch"]
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        self.history = state["history"]
        self.best_val = state["best_val"]
        self.best_state = state["best_state"]
        self.bad_epochs = state["bad_epochs"]
        self.stopped_early = state["stopped_early"]
        self.done = self.stopped_early or self.epoch >= self.c.epochs
        self.nb_idx, self.nb_w, self.partner = (to_numpy(state[k]) for k in ("nb_idx", "nb_w", "partner"))
        self.epoch_cells = to_numpy(state["epoch_cells"])
        self.epoch_spots = to_numpy(state["epoch_spots"])


def resume(plan: TrainingPlan, ckpt: Path, fingerprint: str) -> TrainingPlan | None:
    """``plan`` resumed from ``ckpt``, or ``None`` (with a warning) when it cannot be reused.

    A checkpoint is reused only when it loads safely (tensors and plain data), is complete and
    was written for the same data and settings (epochs and patience included).
    """
    try:
        state = safe_load(ckpt)  # on the CPU: the RNG state must be a CPU tensor; load_state_dict moves the rest
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError("not a CommST checkpoint")
    except Exception as err:  # noqa: BLE001 - corrupt, truncated or unsafe: ignored alike
        logger.warning("ignoring checkpoint %s: %s; training starts again from epoch 0", ckpt, unreadable(err))
        return None
    if state.get("fingerprint") != fingerprint:
        logger.warning(
            "ignoring checkpoint %s: it was written for other data or settings (epochs, patience and "
            "every other model setting must match); training starts again from epoch 0",
            ckpt,
        )
        return None
    try:
        plan.load_state_dict(state)
    except Exception as err:  # noqa: BLE001 - an incomplete checkpoint
        logger.warning(
            "ignoring checkpoint %s: it is incomplete (%s: %s); training starts again from epoch 0",
            ckpt,
            type(err).__name__,
            err,
        )
        return None
    logger.info("resumed from %s after epoch %d", ckpt, plan.epoch)
    return plan
