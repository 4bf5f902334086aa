"""The trained CommST model: training it, saving and loading it, and imputing with it."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .._constants import MODEL_CHUNK, Keys
from .._errors import CommstInputError
from .._utils import atomic_path
from ..pp import DEFAULT_TARGET_SUM, counts_from_lognorm, target_sum_of
from ..tl._types import ImputationResult
from ._config import CommSTConfig, resolve_device
from ._data import Modality, _columns, build_model_data, embed, lognorm
from ._io import safe_load, to_numpy, to_tensors, unreadable
from ._module import CommSTModule
from ._neighbours import gather_rows, knn, neighbour_weights
from ._training_plan import CHECKPOINT_NAME, TrainingPlan, fingerprint, resume

logger = logging.getLogger(__name__)

#: Format tag of saved models.
MODEL_FORMAT = "commst-model-1"


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
    target_sum
        Scale of the log-normalisation it was trained on (``preprocess: target_sum``).
    """

    config: CommSTConfig
    state: dict[str, torch.Tensor]
    input_genes: list[str]
    targets: list[str]
    decoded: list[str]
    observed: list[str]
    scaling: dict[str, np.ndarray]
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    target_sum: float = DEFAULT_TARGET_SUM

    def network(self, device: torch.device | str = "cpu") -> CommSTModule:
        """The network with trained weights, in eval mode on ``device``."""
        net = CommSTModule.from_config(len(self.input_genes), len(self.decoded), len(self.observed), self.config)
        net.load_state_dict(self.state)
        return net.to(device).eval()

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model to ``path`` (torch file, atomically)."""
        payload = {
            "format": MODEL_FORMAT,
            "config": self.config.to_dict(),
            "state": self.state,
            "genes": {k: list(getattr(self, k)) for k in ("input_genes", "targets", "decoded", "observed")},
            "scaling": to_tensors(self.scaling),
            "history": self.history.to_dict(orient="list"),
            "target_sum": float(self.target_sum),
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
            raise CommstInputError(path, f"cannot be read as a CommST model: {unreadable(err)}", fix) from None
        if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
            raise CommstInputError(path, "is not a CommST model file (written by TrainedCommST.save)", fix)
        return cls(
            config=CommSTConfig.from_dict(payload["config"]),
            state=payload["state"],
            scaling=to_numpy(payload["scaling"]),
            history=pd.DataFrame(payload["history"]),
            target_sum=float(payload.get("target_sum", DEFAULT_TARGET_SUM)),
            **payload["genes"],
        )

    def impute(
        self,
        spatial: ad.AnnData,
        reference: ad.AnnData,
        *,
        targets: Sequence[str] | None = None,
        chunk: int = MODEL_CHUNK,
    ) -> ImputationResult:
        """Impute ``targets`` for every spot of ``spatial`` (see :func:`impute_with_model`)."""
        return impute_with_model(self, spatial, reference, targets=targets, chunk=chunk)


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
        Prepared spatial AnnData (``layers['counts']``, ``obsm['spatial']``); its
        ``target_sum`` (:func:`commst.pp.target_sum_of`) scales the log-normalisation.
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
        spatial,
        reference,
        targets=targets,
        input_genes=input_genes,
        lr_focus=c.lr_focus,
        spatial_observed=c.spatial_observed,
        input_scaling=c.input_scaling,
        thinning=c.thinning,
        seed=c.seed,
        target_sum=target_sum_of(spatial),
    )
    has_coords = Keys.obsm.spatial in spatial.obsm
    coords = np.asarray(spatial.obsm[Keys.obsm.spatial], dtype=np.float64) if has_coords else None
    if c.w_nichenet > 0 and ligand_target is not None and coords is None:
        logger.warning("NicheNet term off: spatial.obsm['spatial'] is missing")

    def new_plan() -> TrainingPlan:
        return TrainingPlan(data, c, ppi=ppi, ligand_target=ligand_target, coords=coords, device=device)

    plan = new_plan()
    key = fingerprint(c, data)
    ckpt = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    if ckpt is not None and ckpt.exists():
        plan = resume(plan, ckpt, key) or new_plan()
    logger.info("training CommST on %s: %d cells, %d spots", device, data.n_cells, data.n_spots)
    bar = tqdm(total=c.epochs, initial=plan.epoch, disable=not progress, desc="CommST", unit="epoch")
    while not plan.done:
        row = plan.run_epoch()
        row["epoch"] = plan.epoch
        plan.history.append(row)
        plan.step_early_stopping(row["val"])
        plan.epoch += 1
        if ckpt is not None:
            with atomic_path(ckpt) as tmp:
                torch.save(plan.state_dict(key), tmp)
        bar.update(1)
        bar.set_postfix(train=f"{row['train']:.3f}", val=f"{row['val']:.3f}")
    bar.close()
    history = pd.DataFrame(plan.history)
    if len(history):
        first = ["epoch", "phase", "train", "val"]
        history = history[first + sorted(set(history.columns) - set(first))]
    logger.info("training stopped after %d epochs (best validation loss %.4f)", plan.epoch, plan.best_val)
    best = plan.best_state if plan.best_state is not None else plan.net.state_dict()
    return TrainedCommST(
        config=c,
        state={k: v.detach().cpu().clone() for k, v in best.items()},
        input_genes=data.input_genes,
        targets=data.targets,
        decoded=data.decoded,
        observed=data.observed,
        scaling={k: getattr(data, k) for k in ("mean_sp", "sd_sp", "mean_ref", "sd_ref")},
        history=history,
        target_sum=data.target_sum,
    )


def impute_with_model(
    model: TrainedCommST,
    spatial: ad.AnnData,
    reference: ad.AnnData,
    *,
    targets: Sequence[str] | None = None,
    chunk: int = MODEL_CHUNK,
) -> ImputationResult:
    """Impute ``targets`` (default: all the model's targets) for every spot of ``spatial``.

    The prediction is the decoder output (optionally blended with the latent neighbours'
    weighted mean, ``config.blend``), on the ``log1p(counts / input-library × target_sum)``
    scale, turned into expected counts at each spot's depth over the input genes.

    Returns
    -------
    :class:`~commst.tl._types.ImputationResult` with ``uncertainty`` (count units, the
    package's convention: ``sd_log · d counts / d prediction`` with ``sd_log = sqrt(weighted
    variance of the neighbours' expression + (decoder - neighbour mean)^2)`` on the prediction's
    log scale),
    ``guard`` (genes that fewer than ``guard_min_frac`` of the ``guard_k`` matched
    reference cells express are zero; all False when the guard is switched off), ``labels``
    (weighted majority cell type of the matched cells) and ``extra`` (config, history,
    guard counts).
    """
    c, ts = model.config, model.target_sum
    targets = list(model.targets if targets is None else targets)
    unknown = [g for g in targets if g not in model.targets]
    if unknown:
        raise ValueError(
            f"{len(unknown)} requested targets were not trained (e.g. {unknown[:5]}); retrain with these targets"
        )
    device = resolve_device(c.device)
    net = model.network(device)
    cols = np.array([model.decoded.index(g) for g in targets], dtype=np.int64)
    sc = model.scaling

    sp_in = _columns(spatial, model.input_genes, "spatial")
    ref_in = _columns(reference, model.input_genes, "reference")
    sp_lib = np.asarray(sp_in.sum(1)).ravel().astype(np.float32)
    ref_lib = np.asarray(ref_in.sum(1)).ravel().astype(np.float32)
    spots = Modality(sp_in, sp_lib, sc["mean_sp"], sc["sd_sp"], ts)
    cells = Modality(ref_in, ref_lib, sc["mean_ref"], sc["sd_ref"], ts, sp_lib if c.thinning else None)
    z_s, dec = embed(
        net, spots, np.arange(sp_in.shape[0]), None, device, latent_dim=c.latent_dim, columns=cols, chunk=chunk
    )
    assert dec is not None
    rng = np.random.default_rng(c.seed + 7) if c.thinning else None
    z_c, _ = embed(net, cells, np.arange(ref_in.shape[0]), rng, device, latent_dim=c.latent_dim, chunk=chunk)
    idx_g, dist_g = knn(z_s, z_c, max(c.k_neighbours, c.guard_k), c.seed)
    idx, w = idx_g[:, : c.k_neighbours], neighbour_weights(dist_g[:, : c.k_neighbours])

    ref_t = _columns(reference, targets, "reference")
    ref_t_log = lognorm(ref_t, ref_lib, ts)
    ref_t_sq = ref_t_log.multiply(ref_t_log).tocsr()
    expressed = ref_t.copy()
    expressed.data = (expressed.data > 0).astype(np.float32)
    n, k, kg = len(sp_lib), idx.shape[1], idx_g.shape[1]
    # spots in chunks, straight into the three outputs (no other spots x targets array is kept)
    counts = np.zeros((n, len(targets)), np.float32)
    uncertainty = np.zeros_like(counts)
    guard = np.zeros(counts.shape, dtype=bool)
    for start in range(0, n, chunk):
        sl = slice(start, start + chunk)
        mu64 = gather_rows(ref_t_log, idx[sl], w[sl])
        var = np.maximum(gather_rows(ref_t_sq, idx[sl], w[sl]) - mu64**2, 0.0).astype(np.float32)
        mu = mu64.astype(np.float32)
        pred = (1.0 - c.blend) * dec[sl] + c.blend * mu
        part = counts_from_lognorm(pred, sp_lib[sl], target_sum=ts)
        # sd on the prediction's log scale, to count units (d part / d pred = exp(pred) * lib / target_sum)
        uncertainty[sl] = np.sqrt(var + (dec[sl] - mu) ** 2) * np.exp(pred) / ts * sp_lib[sl, None]
        if c.guard:
            frac = gather_rows(expressed, idx_g[sl], np.full(idx_g[sl].shape, 1.0 / kg, np.float32))
            guard[sl] = frac.astype(np.float32) < c.guard_min_frac
            part[guard[sl]] = 0.0
        counts[sl] = np.maximum(part, 0.0)
    del dec

    labels = None
    if Keys.obs.cell_type in reference.obs:
        types = reference.obs[Keys.obs.cell_type].astype(str).to_numpy()
        votes = pd.DataFrame({"spot": np.repeat(np.arange(n), k), "type": types[idx.ravel()], "w": w.ravel()})
        best = votes.groupby(["spot", "type"], observed=True)["w"].sum().reset_index()
        best = best.sort_values(["spot", "w"], ascending=[True, False]).drop_duplicates("spot").set_index("spot")
        labels = pd.Series(best["type"].reindex(np.arange(n)).to_numpy(), index=spatial.obs_names, name="commst_label")
    logger.info("imputed %d targets for %d spots; guard zeroed %.1f%% of values", len(targets), n, 100.0 * guard.mean())
    return ImputationResult(
        counts=counts,
        targets=targets,
        uncertainty=uncertainty,
        guard=guard,
        labels=labels,
        extra={
            "method": "commst",
            "config": c.to_dict(),
            "history": model.history.to_dict(orient="list"),
            "n_guarded": int(guard.sum()),
            "uncertainty_scale": f"counts (delta method from log1p(counts / input-library * {ts:g}))",
        },
    )
