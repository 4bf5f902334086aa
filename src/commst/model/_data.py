"""The model's data: matrices, libraries, scaling, the validation split, epoch draws and encoder inputs.

:class:`ModelData` holds the sparse matrices of a spatial/reference pair; :class:`Modality`
turns rows of either modality into encoder inputs (thinned for reference cells while
training) and :func:`embed` encodes them in chunks, for training and imputation alike.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import anndata as ad
import numpy as np
import scipy.sparse as sp
import torch

from .._constants import MODEL_CHUNK, MODEL_DENSE_MAX, Keys
from ..pp import DEFAULT_TARGET_SUM, counts_matrix
from ..pp import lognorm as _lognorm

logger = logging.getLogger(__name__)


def _columns(adata: ad.AnnData, genes: Sequence[str], what: str) -> sp.csr_matrix:
    """Raw counts of ``genes`` (in that order) as float32 CSR, with a clear error if missing."""
    missing = [g for g in genes if g not in adata.var_names]
    if missing:
        raise ValueError(
            f"{len(missing)} {what} genes are not in the {what} AnnData (e.g. {missing[:5]}); "
            "pass gene lists taken from spatial.uns['commst']['genes'] of the prepared data"
        )
    idx = adata.var_names.get_indexer(list(genes))
    return counts_matrix(adata)[:, idx].astype(np.float32).tocsr()


def lognorm(counts: np.ndarray | sp.csr_matrix, library: np.ndarray, target_sum: float) -> np.ndarray | sp.csr_matrix:
    """:func:`commst.pp.lognorm` as the model uses it: float32, libraries floored at 1."""
    return _lognorm(counts, np.maximum(library, 1.0), target_sum=target_sum, dtype=np.float32)


@dataclass
class ModelData:
    """Everything the model needs from a spatial/reference pair, sparse where large.

    Attributes
    ----------
    sp_in, ref_in
        Counts of the input genes ``S`` (spots / cells × S), CSR float32.
    sp_lib, ref_lib
        Totals over ``S`` per spot / cell.
    ref_out
        Reference counts of the decoded genes (cells × D), CSR.
    ref_out_log
        ``log1p(ref_out / ref_lib × target_sum)`` as CSR (targets of the reference loss and of the
        spot soft targets).
    sp_obs, obs_idx
        Spatial counts of the decoded target genes the spatial data measured, and their
        column positions among the decoded genes (empty when none or switched off).
    mean_sp, sd_sp, mean_ref, sd_ref
        Per-gene scaling of the log-normalised input of each modality.
    target_sum
        Scale of the log-normalisation (``preprocess: target_sum``).
    """

    input_genes: list[str]
    targets: list[str]
    decoded: list[str]
    observed: list[str]
    sp_in: sp.csr_matrix
    ref_in: sp.csr_matrix
    sp_lib: np.ndarray
    ref_lib: np.ndarray
    ref_out: sp.csr_matrix
    ref_out_log: sp.csr_matrix
    sp_obs: sp.csr_matrix
    obs_idx: np.ndarray
    cell_types: np.ndarray | None
    mean_sp: np.ndarray
    sd_sp: np.ndarray
    mean_ref: np.ndarray
    sd_ref: np.ndarray
    target_sum: float = DEFAULT_TARGET_SUM

    @property
    def n_spots(self) -> int:
        return self.sp_in.shape[0]

    @property
    def n_cells(self) -> int:
        return self.ref_in.shape[0]


def _moments(X: sp.csr_matrix, lib: np.ndarray, target_sum: float, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Per-gene mean and sd of the log-normalised rows of ``X`` (computed in chunks)."""
    total = np.zeros(X.shape[1], dtype=np.float64)
    total_sq = np.zeros(X.shape[1], dtype=np.float64)
    for start in range(0, X.shape[0], chunk):
        block = lognorm(X[start : start + chunk].toarray(), lib[start : start + chunk], target_sum)
        total += block.sum(0)
        total_sq += (block.astype(np.float64) ** 2).sum(0)
    mean = total / X.shape[0]
    sd = np.sqrt(np.maximum(total_sq / X.shape[0] - mean**2, 0.0))
    return mean.astype(np.float32), np.maximum(sd, 1e-2).astype(np.float32)


def thin_to_library(
    counts: np.ndarray, library: np.ndarray, target_libraries: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Binomially thin rows of ``counts`` to libraries drawn from ``target_libraries``.

    Each row keeps every molecule with probability ``min(1, L / library)``, ``L`` drawn from
    the empirical spatial library sizes; rows already below ``L`` stay as they are.
    """
    drawn = rng.choice(target_libraries, size=counts.shape[0], replace=True)
    p = np.minimum(1.0, drawn / np.maximum(library, 1.0))
    return rng.binomial(counts.astype(np.int64), p[:, None]).astype(np.float32)


def thin_sparse(
    counts: sp.csr_matrix, library: np.ndarray, target_libraries: np.ndarray, rng: np.random.Generator
) -> sp.csr_matrix:
    """:func:`thin_to_library` for CSR counts, without densifying."""
    drawn = rng.choice(target_libraries, size=counts.shape[0], replace=True)
    p = np.minimum(1.0, drawn / np.maximum(library, 1.0))
    out = counts.copy().tocsr()
    row_p = np.repeat(p, np.diff(out.indptr))
    out.data = rng.binomial(out.data.astype(np.int64), row_p).astype(np.float32)
    out.eliminate_zeros()
    return out


def build_model_data(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    *,
    targets: Sequence[str],
    input_genes: Sequence[str],
    lr_focus: bool,
    spatial_observed: bool,
    input_scaling: str,
    thinning: bool,
    seed: int,
    target_sum: float = DEFAULT_TARGET_SUM,
) -> ModelData:
    """Collect the model's matrices from prepared AnnData objects.

    Parameters
    ----------
    spatial, reference
        Prepared data (raw counts in ``layers['counts']``, else ``X``).
    targets
        LR target genes ``T`` (must be in ``reference``); any of them present in ``spatial``
        counts as observed there (held-out genes must therefore be removed from ``spatial``).
    input_genes
        Input genes ``S`` (in both objects, disjoint from ``targets``).
    lr_focus
        ``False`` decodes ``targets + input_genes`` (ablation "no LR focus").
    spatial_observed
        Collect the observed targets for the spatial likelihood.
    input_scaling, thinning, seed
        See :class:`~commst.model.CommSTConfig`.
    target_sum
        Scale of the log-normalisation (``preprocess: target_sum``, :func:`commst.pp.target_sum_of`).
    """
    targets = list(dict.fromkeys(map(str, targets)))
    input_genes = list(dict.fromkeys(map(str, input_genes)))
    if not targets:
        raise ValueError("no target genes given: targets must name at least one LR gene of the reference")
    overlap = set(targets) & set(input_genes)
    if overlap:
        raise ValueError(
            f"{len(overlap)} genes are both targets and inputs (e.g. {sorted(overlap)[:5]}); "
            "LR targets are never model inputs: remove them from input_genes"
        )
    if len(input_genes) < 2:
        raise ValueError("fewer than 2 input genes; the model needs genes measured in both datasets")
    sp_in = _columns(spatial, input_genes, "spatial")
    ref_in = _columns(reference, input_genes, "reference")
    sp_lib = np.asarray(sp_in.sum(1)).ravel().astype(np.float32)
    ref_lib = np.asarray(ref_in.sum(1)).ravel().astype(np.float32)
    for lib, what in ((sp_lib, "spots"), (ref_lib, "reference cells")):
        if (lib <= 0).any():
            logger.warning("%d %s have no counts over the input genes", int((lib <= 0).sum()), what)
    decoded = targets if lr_focus else targets + input_genes
    ref_out = _columns(reference, decoded, "reference")
    ref_out_log = lognorm(ref_out, ref_lib, target_sum)
    observed = [g for g in targets if g in spatial.var_names] if spatial_observed else []
    sp_obs = _columns(spatial, observed, "spatial") if observed else sp.csr_matrix((spatial.n_obs, 0), dtype=np.float32)
    obs_idx = np.array([decoded.index(g) for g in observed], dtype=np.int64)

    mean_sp, sd_sp = _moments(sp_in, sp_lib, target_sum)
    if thinning:
        rng = np.random.default_rng(seed)
        if ref_in.shape[0] * ref_in.shape[1] <= MODEL_DENSE_MAX:
            thinned = sp.csr_matrix(thin_to_library(ref_in.toarray(), ref_lib, sp_lib, rng))
        else:  # large references: moments from (at most 20,000) thinned cells, kept sparse
            rows = np.sort(rng.choice(ref_in.shape[0], min(20000, ref_in.shape[0]), replace=False))
            thinned = thin_sparse(ref_in[rows], ref_lib[rows], sp_lib, rng)
        mean_ref, sd_ref = _moments(thinned, np.asarray(thinned.sum(1)).ravel(), target_sum)
    else:
        mean_ref, sd_ref = _moments(ref_in, ref_lib, target_sum)
    if input_scaling == "reference":
        mean_sp, sd_sp = mean_ref, sd_ref
    cell_types = (
        reference.obs[Keys.obs.cell_type].astype(str).to_numpy() if Keys.obs.cell_type in reference.obs else None
    )
    logger.info(
        "model data: %d spots, %d cells, %d input genes, %d targets (%d decoded, %d observed in spatial)",
        sp_in.shape[0],
        ref_in.shape[0],
        len(input_genes),
        len(targets),
        len(decoded),
        len(observed),
    )
    return ModelData(
        input_genes=input_genes,
        targets=targets,
        decoded=decoded,
        observed=observed,
        sp_in=sp_in,
        ref_in=ref_in,
        sp_lib=sp_lib,
        ref_lib=ref_lib,
        ref_out=ref_out,
        ref_out_log=ref_out_log,
        sp_obs=sp_obs.tocsr(),
        obs_idx=obs_idx,
        cell_types=cell_types,
        mean_sp=mean_sp,
        sd_sp=sd_sp,
        mean_ref=mean_ref,
        sd_ref=sd_ref,
        target_sum=float(target_sum),
    )


def encoder_input(
    counts: np.ndarray, library: np.ndarray, mean: np.ndarray, sd: np.ndarray, device: torch.device, target_sum: float
) -> torch.Tensor:
    """Scaled log-normalised input rows as a tensor on ``device``."""
    return torch.from_numpy((lognorm(counts, library, target_sum) - mean) / sd).to(device)


@dataclass
class Modality:
    """Spots or reference cells as the encoder reads them.

    Attributes
    ----------
    counts, library
        Input-gene counts (CSR) and their totals per row.
    mean, sd
        Per-gene scaling of the log-normalised input of this modality.
    thin_to
        Libraries to thin rows to (the spatial libraries) when a random generator is given;
        ``None``: rows are never thinned (spots, or training without thinning).
    """

    counts: sp.csr_matrix
    library: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    target_sum: float
    thin_to: np.ndarray | None = None

    def rows(self, idx: np.ndarray | slice, rng: np.random.Generator | None, device: torch.device) -> torch.Tensor:
        """Encoder input of rows ``idx``, binomially thinned with ``rng`` when thinning applies."""
        x = self.counts[idx].toarray()
        lib = self.library[idx]
        if self.thin_to is not None and rng is not None:
            x = thin_to_library(x, lib, self.thin_to, rng)
            lib = x.sum(1)
        return encoder_input(x, lib, self.mean, self.sd, device, self.target_sum)


def spots_of(data: ModelData) -> Modality:
    """The spots of ``data`` as encoder input."""
    return Modality(data.sp_in, data.sp_lib, data.mean_sp, data.sd_sp, data.target_sum)


def cells_of(data: ModelData, *, thinning: bool) -> Modality:
    """The reference cells of ``data`` as encoder input (thinned to spatial depth with ``thinning``)."""
    return Modality(
        data.ref_in, data.ref_lib, data.mean_ref, data.sd_ref, data.target_sum, data.sp_lib if thinning else None
    )


@torch.no_grad()
def embed(
    net: torch.nn.Module,
    modality: Modality,
    rows: np.ndarray,
    rng: np.random.Generator | None,
    device: torch.device,
    *,
    latent_dim: int,
    columns: np.ndarray | None = None,
    chunk: int = MODEL_CHUNK,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Latent coordinates of ``rows`` of ``modality`` (encoded in chunks, eval mode), and the
    decoder output of the decoded ``columns`` (``None``: no decoder output is computed)."""
    net.eval()
    zs, ms = [], []
    for start in range(0, len(rows), chunk):
        x = modality.rows(rows[start : start + chunk], rng, device)
        if columns is None:
            zs.append(net.encode(x).cpu().numpy())
            continue
        z, m = net(x)
        zs.append(z.cpu().numpy())
        ms.append(m[:, torch.as_tensor(columns, device=m.device)].cpu().numpy())
    z_all = np.concatenate(zs) if zs else np.zeros((0, latent_dim), np.float32)
    return z_all, (np.concatenate(ms) if columns is not None else None)


@dataclass
class DataSplit:
    """Training and validation rows of both modalities (sorted positions)."""

    train_cells: np.ndarray
    val_cells: np.ndarray
    train_spots: np.ndarray
    val_spots: np.ndarray


def split_data(n_cells: int, n_spots: int, val_fraction: float, rng: np.random.Generator) -> DataSplit:
    """Hold out ``val_fraction`` of the cells and of the spots for the validation loss."""
    n_val_c = int(round(val_fraction * n_cells))
    n_val_s = int(round(val_fraction * n_spots))
    perm_c, perm_s = rng.permutation(n_cells), rng.permutation(n_spots)
    return DataSplit(
        train_cells=np.sort(perm_c[n_val_c:]),
        val_cells=np.sort(perm_c[:n_val_c]),
        train_spots=np.sort(perm_s[n_val_s:]),
        val_spots=np.sort(perm_s[:n_val_s]),
    )


def draw_epoch_sample(split: DataSplit, cap: int | None, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The cells and spots the coming epochs work on.

    Large data: at most ``cap`` training cells and as many training spots, uniformly without
    replacement (cell types keep their proportions in expectation). Data at or below the cap
    use every training cell and spot, with no random draw at all.
    """
    cells, spots = split.train_cells, split.train_spots
    if cap is None or max(len(cells), len(spots)) <= cap:
        return cells, spots
    cells = np.sort(rng.choice(cells, cap, replace=False)) if len(cells) > cap else cells
    spots = np.sort(rng.choice(spots, cap, replace=False)) if len(spots) > cap else spots
    return cells, spots
