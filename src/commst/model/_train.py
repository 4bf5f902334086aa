"""Training of the CommST model: mini-batches, thinning, soft targets, priors, checkpoints."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import os
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.neighbors import NearestNeighbors
from tqdm.auto import tqdm

from .._utils import atomic_path
from ..validate import CommstInputError
from ._config import CommSTConfig
from ._data import TARGET_SUM, ModelData, build_model_data, encoder_input, lognorm, thin_to_library
from ._net import CommSTNet
from ._priors import build_nichenet_prior, gene_graph_edges, laplacian_penalty, nichenet_penalty

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "last.pt"
_EXACT_KNN_MAX = 50_000
#: Spots per mini-batch that the NicheNet term looks at (with their spatial neighbours).
_NICHENET_SPOTS = 64


def resolve_device(device: str) -> torch.device:
    """``'auto'`` → CUDA when available, else CPU; ``'cuda'`` without a GPU is an error."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        granted = {k: os.environ[k] for k in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_GPUS", "SLURM_STEP_GPUS") if os.environ.get(k)}
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


def _to_tensors(value: Any) -> Any:
    """numpy arrays → tensors, recursively: saved files hold only what ``weights_only=True`` loads."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, dict):
        return {k: _to_tensors(v) for k, v in value.items()}
    return value


def _to_numpy(value: Any) -> Any:
    """Inverse of :func:`_to_tensors` for the entries that were numpy arrays."""
    if isinstance(value, torch.Tensor):
        return value.numpy()
    if isinstance(value, dict):
        return {k: _to_numpy(v) for k, v in value.items()}
    return value


def safe_load(path: str | os.PathLike[str], map_location: Any = "cpu") -> Any:
    """``torch.load`` that runs no code: tensors and plain Python data only (``weights_only=True``)."""
    return torch.load(path, map_location=map_location, weights_only=True)


def _unreadable(err: Exception) -> str:
    """Why a torch file could not be loaded safely, without torch's advice to load it unsafely."""
    if isinstance(err, pickle.UnpicklingError):
        return "it holds objects other than tensors and plain data (a pickle that could run code), which are never loaded"
    first = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
    return f"it cannot be read ({type(err).__name__}: {first})"


def knn(query: np.ndarray, index: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``k`` nearest rows of ``index`` for each row of ``query``: (indices, distances).

    Exact (scikit-learn) up to 50,000 index rows, approximate (pynndescent) above.
    """
    k = min(k, index.shape[0])
    if index.shape[0] <= _EXACT_KNN_MAX:
        dist, idx = NearestNeighbors(n_neighbors=k).fit(index).kneighbors(query)
        return idx, dist.astype(np.float32)
    from pynndescent import NNDescent

    nnd = NNDescent(index, n_neighbors=max(k, 30), random_state=seed, n_jobs=max(1, torch.get_num_threads()))
    idx, dist = nnd.query(query, k=k)
    return idx, dist.astype(np.float32)


def neighbour_weights(dist: np.ndarray) -> np.ndarray:
    """Gaussian weights ``exp(-(d / d_k)^2)`` per row, normalised to sum to one."""
    scale = np.maximum(dist[:, -1:], 1e-6)
    w = np.exp(-((dist / scale) ** 2))
    return (w / w.sum(1, keepdims=True)).astype(np.float32)


def gather_rows(X: sp.csr_matrix, idx: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean over neighbours: ``sum_j weights[:, j] * X[idx[:, j]]`` (dense, batch × genes)."""
    rows = X[idx.ravel()].toarray().reshape(idx.shape[0], idx.shape[1], X.shape[1])
    return np.einsum("bk,bkg->bg", weights, rows)


@dataclass
class TrainedCommST:
    """A trained CommST model with what imputation needs.

    Attributes
    ----------
    config
        The settings it was trained with.
    state
        Network weights (``state_dict``).
    input_genes, targets, decoded, observed
        Gene lists (decoded = targets, plus input genes without LR focus).
    scaling
        Per-gene input scaling of each modality (``mean_sp``, ``sd_sp``, ``mean_ref``, ``sd_ref``).
    history
        Training curve, one row per epoch (losses per term, validation loss, phase).
    """

    config: CommSTConfig
    state: dict[str, torch.Tensor]
    input_genes: list[str]
    targets: list[str]
    decoded: list[str]
    observed: list[str]
    scaling: dict[str, np.ndarray]
    history: pd.DataFrame = field(default_factory=pd.DataFrame)

    def network(self, device: torch.device | str = "cpu") -> CommSTNet:
        """The network with trained weights, in eval mode on ``device``."""
        c = self.config
        net = CommSTNet(
            len(self.input_genes), len(self.decoded), len(self.observed),
            latent_dim=c.latent_dim, hidden=c.hidden, dropout=c.dropout,
        )
        net.load_state_dict(self.state)
        return net.to(device).eval()

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model to ``path`` (torch file, atomically)."""
        payload = {
            "format": "commst-model-1",
            "config": self.config.to_dict(),
            "state": self.state,
            "genes": {k: list(getattr(self, k)) for k in ("input_genes", "targets", "decoded", "observed")},
            "scaling": _to_tensors(self.scaling),
            "history": self.history.to_dict(orient="list"),
        }
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrainedCommST:
        """Read a model written by :meth:`save` (tensors and plain data only: no code runs).

        Raises
        ------
        CommstInputError
            The file cannot be read safely (corrupt, truncated, or holding other objects than
            tensors and plain data, e.g. a planted pickle) or is not a CommST model.
        """
        fix = "delete it and run the workflow again: rule train writes a new one"
        try:
            payload = safe_load(path)
        except Exception as err:  # noqa: BLE001 - unreadable or unsafe: the same to the user
            raise CommstInputError(path, f"cannot be read as a CommST model: {_unreadable(err)}", fix) from None
        if not isinstance(payload, dict) or payload.get("format") != "commst-model-1":
            raise CommstInputError(path, "is not a CommST model file (written by TrainedCommST.save)", fix)
        return cls(
            config=CommSTConfig.from_dict(payload["config"]),
            state=payload["state"],
            scaling=_to_numpy(payload["scaling"]),
            history=pd.DataFrame(payload["history"]),
            **payload["genes"],
        )


def _fingerprint(config: CommSTConfig, data: ModelData) -> str:
    """Checksum of what a checkpoint must agree on to be resumed: every setting but the device.

    ``epochs`` and ``patience`` are included: a run resumed under other stopping rules would
    not be the run the config describes.
    """
    settings = {k: v for k, v in config.to_dict().items() if k not in ("device", "num_threads")}
    key = json.dumps(
        [settings, data.input_genes, data.decoded, data.observed, data.n_spots, data.n_cells,
         float(data.sp_lib.sum()), float(data.ref_lib.sum())],
        sort_keys=True,
    )
    return hashlib.sha256(key.encode()).hexdigest()[:16]


class _Trainer:
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
        n_val_c = int(round(c.val_fraction * data.n_cells))
        n_val_s = int(round(c.val_fraction * data.n_spots))
        perm_c, perm_s = self.rng.permutation(data.n_cells), self.rng.permutation(data.n_spots)
        self.val_cells, self.train_cells = np.sort(perm_c[:n_val_c]), np.sort(perm_c[n_val_c:])
        self.val_spots, self.train_spots = np.sort(perm_s[:n_val_s]), np.sort(perm_s[n_val_s:])
        # beyond max_cells_per_epoch an epoch works on a random draw (see draw_epoch_sample)
        cap = c.max_cells_per_epoch
        self.subsampled = cap is not None and max(len(self.train_cells), len(self.train_spots)) > cap
        self.epoch_cells, self.epoch_spots = self.train_cells, self.train_spots
        self.net = CommSTNet(
            len(data.input_genes), len(data.decoded), len(data.observed),
            latent_dim=c.latent_dim, hidden=c.hidden, dropout=c.dropout,
        ).to(device)
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=c.lr, weight_decay=c.weight_decay)

        # per-gene loss weights: variance-standardised with LR focus (low-abundance genes count
        # as much as abundant ones), uniform without
        n_t = len(data.targets)
        if c.lr_focus:
            y = data.ref_out_log
            mean = np.asarray(y.mean(0)).ravel()
            var = np.asarray(y.multiply(y).mean(0)).ravel() - mean**2
            w = 1.0 / np.maximum(var, 1e-2)
            w = w / w.mean()
        else:
            w = np.ones(len(data.decoded))
        self.gene_w = torch.tensor(w, dtype=torch.float32, device=device)
        obs_mean = np.asarray(data.sp_obs.mean(0)).ravel() if data.observed else np.zeros(0)
        self.obs_w = torch.tensor(1.0 / np.maximum(obs_mean, 1e-3), dtype=torch.float32, device=device)

        self.edges = None
        if c.w_ppi > 0 and ppi is not None:
            i, j, ew = gene_graph_edges(ppi, data.targets)
            if len(i):
                self.edges = tuple(torch.as_tensor(a, device=device) for a in (i, j, ew))
                logger.info("PPI term: %d edges among %d targets", len(i), n_t)
            else:
                logger.warning("PPI term off: the gene graph has no edge among the targets")
        self.nichenet = None
        if c.w_nichenet > 0 and ligand_target is not None and coords is not None:
            self.nichenet = build_nichenet_prior(
                ligand_target, decoded=data.decoded, input_genes=data.input_genes, coords=coords, spatial_k=c.spatial_k
            )
            if self.nichenet is not None:
                self.nn_matrix = torch.as_tensor(self.nichenet.matrix, device=device)

        # fixed thinning of the validation cells, so the validation loss is comparable across epochs
        val_rng = np.random.default_rng(c.seed + 1)
        self.val_x = self._ref_input(self.val_cells, val_rng)
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

    # ----- inputs ---------------------------------------------------------------------------
    def _ref_input(self, cells: np.ndarray, rng: np.random.Generator | None) -> torch.Tensor:
        d = self.data
        x = d.ref_in[cells].toarray()
        lib = d.ref_lib[cells]
        if self.c.thinning and rng is not None:
            x = thin_to_library(x, lib, d.sp_lib, rng)
            lib = x.sum(1)
        return encoder_input(x, lib, d.mean_ref, d.sd_ref, self.device)

    def _spot_input(self, spots: np.ndarray) -> torch.Tensor:
        d = self.data
        return encoder_input(d.sp_in[spots].toarray(), d.sp_lib[spots], d.mean_sp, d.sd_sp, self.device)

    @torch.no_grad()
    def embed(self, kind: str, rows: np.ndarray, rng: np.random.Generator | None, chunk: int = 4096) -> np.ndarray:
        """Latent coordinates (eval mode) of spots or reference cells, in chunks."""
        self.net.eval()
        out = []
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            x = self._spot_input(part) if kind == "spot" else self._ref_input(part, rng)
            out.append(self.net.encode(x).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.c.latent_dim), np.float32)

    # ----- the epoch's cells and spots -----------------------------------------------------
    def draw_epoch_sample(self) -> None:
        """Large data: draw the cells (and spots) the coming epochs work on.

        At most ``max_cells_per_epoch`` training cells and as many training spots, uniformly
        without replacement (cell types keep their proportions in expectation). Kept until the
        next neighbour update, so soft targets and partners always point into the draw. Data at
        or below the cap use every training cell and spot (no random draw at all).
        """
        if not self.subsampled:
            return
        cap = int(self.c.max_cells_per_epoch)  # type: ignore[arg-type]
        cells, spots = self.train_cells, self.train_spots
        self.epoch_cells = np.sort(self.rng.choice(cells, cap, replace=False)) if len(cells) > cap else cells
        self.epoch_spots = np.sort(self.rng.choice(spots, cap, replace=False)) if len(spots) > cap else spots

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
        z_s = self.embed("spot", spots, None)
        z_c = self.embed("cell", cells, rng)
        idx, dist = knn(z_s, z_c, c.k_neighbours, c.seed)
        k = idx.shape[1]
        self.nb_idx = np.full((n, k), -1, dtype=np.int64)
        self.nb_w = np.zeros((n, k), dtype=np.float32)
        self.nb_idx[spots] = cells[idx]
        self.nb_w[spots] = neighbour_weights(dist)
        # mutual nearest neighbours: spot s and cell c are partners when each is among the other's k nearest
        ridx, _ = knn(z_c, z_s, c.k_neighbours, c.seed)
        back = sp.csr_matrix(
            (np.ones(ridx.size, dtype=bool), (np.repeat(np.arange(len(cells)), ridx.shape[1]), ridx.ravel())),
            shape=(len(cells), len(spots)),
        )
        local = np.repeat(np.arange(len(spots)), k)
        mutual = np.asarray(back[idx.ravel(), local]).reshape(idx.shape)
        first = np.where(mutual.any(1), mutual.argmax(1), -1)
        self.partner = np.full(n, -1, dtype=np.int64)
        self.partner[spots] = np.where(first >= 0, cells[idx[np.arange(len(first)), np.maximum(first, 0)]], -1)

    # ----- one epoch ------------------------------------------------------------------------
    def run_epoch(self) -> dict[str, float]:
        c, d, dev = self.c, self.data, self.device
        phase2 = self.epoch >= c.pretrain_epochs
        new_neighbours = phase2 and (self.nb_idx is None or (self.epoch - c.pretrain_epochs) % c.knn_every == 0)
        if new_neighbours or not phase2:
            self.draw_epoch_sample()
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
            terms: dict[str, torch.Tensor] = {}
            _, m_c = self.net(self._ref_input(cb, self.rng))
            y_c = torch.from_numpy(d.ref_out_log[cb].toarray()).to(dev)
            terms["ref"] = ((m_c - y_c).pow(2) * self.gene_w).mean()
            if use_spots:
                sb = np.take(order_s, np.arange(step * c.batch_size, (step + 1) * c.batch_size) % len(order_s))
                sb = np.unique(sb)
                z_s, m_s = self.net(self._spot_input(sb))
                if len(d.observed) and c.w_obs > 0:
                    terms["obs"] = c.w_obs * self._obs_loss(m_s, sb)
                if phase2:
                    terms.update(self._phase2_terms(sb, z_s, m_s))
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

    def _obs_loss(self, m_s: torch.Tensor, sb: np.ndarray) -> torch.Tensor:
        d = self.data
        y = torch.from_numpy(d.sp_obs[sb].toarray()).to(self.device)
        lib = torch.from_numpy(d.sp_lib[sb]).to(self.device)[:, None]
        rate = torch.expm1(m_s[:, d.obs_idx]) / TARGET_SUM * lib * torch.exp(self.net.log_capture) + 1e-6
        nll = rate - y * torch.log(rate) + torch.lgamma(y + 1.0)
        return (nll * self.obs_w).mean()

    def _phase2_terms(self, sb: np.ndarray, z_s: torch.Tensor, m_s: torch.Tensor) -> dict[str, torch.Tensor]:
        c, d, dev = self.c, self.data, self.device
        terms: dict[str, torch.Tensor] = {}
        if c.w_spot > 0:
            soft = torch.from_numpy(gather_rows(d.ref_out_log, self.nb_idx[sb], self.nb_w[sb])).to(dev)
            terms["spot"] = c.w_spot * ((m_s - soft).pow(2) * self.gene_w).mean()
        if c.w_align > 0:
            has = self.partner[sb] >= 0
            if has.any():
                z_p = self.net.encode(self._ref_input(self.partner[sb][has], self.rng))
                terms["align"] = c.w_align * (z_s[torch.from_numpy(has).to(dev)] - z_p).pow(2).sum(1).mean() / c.latent_dim
        if self.edges is not None and len(sb) > 2:
            terms["ppi"] = c.w_ppi * laplacian_penalty(m_s[:, : len(d.targets)], self.edges)
        if self.nichenet is not None and len(sb) > 2:
            nn = self.nichenet
            sb = sb[: _NICHENET_SPOTS]  # the neighbours of each spot are encoded too: keep it cheap
            rows = nn.graph[sb]
            around = np.unique(rows.indices)
            _, m_u = self.net(self._spot_input(around))
            w = torch.from_numpy(rows[:, around].toarray()).to(dev)
            received = w @ m_u[:, nn.ligand_idx]
            observed = torch.from_numpy(lognorm(d.sp_in[sb].toarray(), d.sp_lib[sb])[:, nn.response_idx]).to(dev)
            terms["nichenet"] = c.w_nichenet * nichenet_penalty(received, self.nn_matrix, observed)
        return terms

    @torch.no_grad()
    def validation_loss(self) -> float:
        """Reference reconstruction of held-out cells (fixed thinning) plus the spatial
        likelihood on held-out spots."""
        d = self.data
        self.net.eval()
        if len(self.val_cells):
            _, m = self.net(self.val_x)
            y = torch.from_numpy(d.ref_out_log[self.val_cells].toarray()).to(self.device)
            val = float(((m - y).pow(2) * self.gene_w).mean())
        else:
            val = 0.0
        if len(self.val_spots) and len(d.observed) and self.c.w_obs > 0:
            _, m_s = self.net(self._spot_input(self.val_spots))
            val += self.c.w_obs * float(self._obs_loss(m_s, self.val_spots))
        return val

    # ----- checkpoints ----------------------------------------------------------------------
    def state_dict(self, fingerprint: str) -> dict[str, Any]:
        """Everything a resumed run needs, as tensors and plain data (``weights_only=True`` loads it)."""
        arrays = ("nb_idx", "nb_w", "partner", "epoch_cells", "epoch_spots")
        return {
            "format": "commst-checkpoint-1",
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
            **{name: _to_tensors(getattr(self, name)) for name in arrays},
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
        self.nb_idx, self.nb_w, self.partner = (_to_numpy(state[k]) for k in ("nb_idx", "nb_w", "partner"))
        self.epoch_cells = _to_numpy(state["epoch_cells"])
        self.epoch_spots = _to_numpy(state["epoch_spots"])

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


def _resume(trainer: _Trainer, ckpt: Path, fingerprint: str) -> _Trainer | None:
    """``trainer`` resumed from ``ckpt``, or ``None`` (with a warning) when it cannot be reused.

    A checkpoint is reused only when it loads safely (tensors and plain data), is complete and
    was written for the same data and settings (epochs and patience included).
    """
    try:
        state = safe_load(ckpt)  # on the CPU: the RNG state must be a CPU tensor; load_state_dict moves the rest
        if not isinstance(state, dict) or state.get("format") != "commst-checkpoint-1":
            raise ValueError("not a CommST checkpoint")
    except Exception as err:  # noqa: BLE001 - corrupt, truncated or unsafe: ignored alike
        logger.warning("ignoring checkpoint %s: %s; training starts again from epoch 0", ckpt, _unreadable(err))
        return None
    if state.get("fingerprint") != fingerprint:
        logger.warning(
            "ignoring checkpoint %s: it was written for other data or settings (epochs, patience and "
            "every other model setting must match); training starts again from epoch 0",
            ckpt,
        )
        return None
    try:
        trainer.load_state_dict(state)
    except Exception as err:  # noqa: BLE001 - an incomplete checkpoint
        logger.warning(
            "ignoring checkpoint %s: it is incomplete (%s: %s); training starts again from epoch 0",
            ckpt, type(err).__name__, err,
        )
        return None
    logger.info("resumed from %s after epoch %d", ckpt, trainer.epoch)
    return trainer


def train(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    *,
    targets: Sequence[str],
    input_genes: Sequence[str],
    config: CommSTConfig | None = None,
    ppi: Any = None,
    ligand_target: pd.DataFrame | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> TrainedCommST:
    """Train the CommST model on a prepared spatial/reference pair.

    Phase 1 (``pretrain_epochs``) learns to decode the targets ``T`` of reference cells from
    their input genes ``S``, binomially thinned to spatial library sizes. Phase 2 adds, for
    spots, soft targets from their ``k_neighbours`` nearest reference cells in latent space,
    mutual-nearest-neighbour alignment, the spatial likelihood of observed targets and the
    prior regularisers.

    Parameters
    ----------
    spatial
        Prepared spatial AnnData (``layers['counts']``, ``obsm['spatial']``).
    reference
        Prepared reference AnnData (``layers['counts']``, ``obs['cell_type']``).
    targets
        LR target genes ``T``. Targets present in ``spatial`` are treated as observed there.
    input_genes
        Input genes ``S`` (measured in both, disjoint from ``targets``).
    config
        Hyper-parameters and ablation switches (defaults: :class:`CommSTConfig`).
    ppi
        Optional gene graph among ``targets`` (scipy sparse in target order, or DataFrame
        labelled with symbols) for the Laplacian term (weight ``w_ppi``).
    ligand_target
        Optional DataFrame, target genes × ligand genes (NicheNet-style regulatory potential),
        for the NicheNet consistency term (weight ``w_nichenet``).
    checkpoint_dir
        Where ``last.pt`` is written after every epoch; an existing compatible checkpoint
        is resumed (a finished run is returned as it is).
    progress
        Show a progress bar over epochs.

    Returns
    -------
    The trained model; ``history`` holds one row per epoch with every loss term.
    """
    c = config or CommSTConfig()
    device = resolve_device(c.device)
    if c.num_threads:
        torch.set_num_threads(c.num_threads)
    data = build_model_data(
        spatial, reference, targets=targets, input_genes=input_genes, lr_focus=c.lr_focus,
        spatial_observed=c.spatial_observed, input_scaling=c.input_scaling, thinning=c.thinning, seed=c.seed,
    )
    coords = np.asarray(spatial.obsm["spatial"], dtype=np.float64) if "spatial" in spatial.obsm else None
    if c.w_nichenet > 0 and ligand_target is not None and coords is None:
        logger.warning("NicheNet term off: spatial.obsm['spatial'] is missing")
    def new_trainer() -> _Trainer:
        return _Trainer(data, c, ppi=ppi, ligand_target=ligand_target, coords=coords, device=device)

    trainer = new_trainer()
    fingerprint = _fingerprint(c, data)
    ckpt = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    if ckpt is not None and ckpt.exists():
        trainer = _resume(trainer, ckpt, fingerprint) or new_trainer()
    logger.info("training CommST on %s: %d cells, %d spots", device, data.n_cells, data.n_spots)
    bar = tqdm(total=c.epochs, initial=trainer.epoch, disable=not progress, desc="CommST", unit="epoch")
    while not trainer.done:
        row = trainer.run_epoch()
        row["epoch"] = trainer.epoch
        trainer.history.append(row)
        trainer.step_early_stopping(row["val"])
        trainer.epoch += 1
        if ckpt is not None:
            with atomic_path(ckpt) as tmp:
                torch.save(trainer.state_dict(fingerprint), tmp)
        bar.update(1)
        bar.set_postfix(train=f"{row['train']:.3f}", val=f"{row['val']:.3f}")
    bar.close()
    history = pd.DataFrame(trainer.history)
    if len(history):
        history = history[["epoch", "phase", "train", "val"] + sorted(set(history.columns) - {"epoch", "phase", "train", "val"})]
    logger.info("training stopped after %d epochs (best validation loss %.4f)", trainer.epoch, trainer.best_val)
    best = trainer.best_state if trainer.best_state is not None else trainer.net.state_dict()
    return TrainedCommST(
        config=c,
        state={k: v.detach().cpu().clone() for k, v in best.items()},
        input_genes=data.input_genes,
        targets=data.targets,
        decoded=data.decoded,
        observed=data.observed,
        scaling={k: getattr(data, k) for k in ("mean_sp", "sd_sp", "mean_ref", "sd_ref")},
        history=history,
    )
