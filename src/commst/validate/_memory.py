"""Memory estimate of a sample's preprocess and impute jobs, and the check against the job's limit."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from anndata import AnnData

from ..tl.methods import memory_model
from ._common import CommstInputError, PathLike
from ._size import DataSize, peek_size

logger = logging.getLogger("commst.validate")

#: Resident memory of the preprocess process before any data: interpreter, numpy/scipy/pandas,
#: anndata, scanpy and scikit-learn (measured ≈ 0.33 GB RSS after the imports of preprocess),
#: plus the LR table and alias map.
_PREPROCESS_BASE = 512 * 2**20
#: Preprocess holds, besides what reading the file holds, about four CSR copies of each matrix
#: (reader's X and layers['counts'], harmonised copy, normalised X + counts).
_PREPROCESS_COPIES = 4


@dataclass(frozen=True)
class MemoryEstimate:
    """Estimated peak memory (bytes) of the preprocess and impute jobs of one sample.

    Attributes
    ----------
    preprocess, impute
        Peak resident memory of each job.
    method
        Imputation method the ``impute`` figure is for.
    n_spots, n_cells, n_input, n_targets
        The sizes it was computed from (``n_input`` and ``n_targets`` are upper bounds
        before preprocessing: genes shared by both files, LR genes of the reference).
    """

    preprocess: int
    impute: int
    method: str
    n_spots: int
    n_cells: int
    n_input: int
    n_targets: int

    @property
    def peak(self) -> int:
        """The larger of the two jobs' peaks."""
        return max(self.preprocess, self.impute)

    def describe(self) -> str:
        """One line with both figures and the sizes they come from."""
        return (
            f"preprocess ≈ {self.preprocess / 2**30:.2f} GiB, impute ({self.method}) ≈ "
            f"{self.impute / 2**30:.2f} GiB for {self.n_spots} spots, {self.n_cells} reference cells, "
            f"≤ {self.n_input} input genes and ≤ {self.n_targets} LR targets"
        )


def estimate_memory(
    spatial: DataSize,
    reference: DataSize,
    *,
    method: str = "knn",
    lr_genes: Sequence[str] | set[str] | None = None,
) -> MemoryEstimate:
    """Estimate the peak memory of preprocessing and imputing one spatial/reference pair.

    With ``S``/``C`` spots/cells, ``csr(·)`` one CSR float32 copy of the counts
    (8 bytes per non-zero), ``I`` input genes (≤ genes in both files), ``T`` LR targets
    (≤ LR genes of the reference) and ``B`` the process's own memory (0.5 GiB; 1 GiB with
    torch)::

        preprocess = B + stored(spatial) + stored(reference) + 4 × (csr(spatial) + csr(reference))
        impute     = the method's :class:`commst.tl.methods.MemoryModel` (its registry entry):
        knn        = B + 2 × (csr(spatial) + csr(reference)) + 32 × I × (S + C) + 40 × T × S
        commst     = B + 2 × (csr(spatial) + csr(reference)) + 16 × min(C × I, 2·10⁷)
                       + 24 × 4096 × I + 80 × T × S

    ``stored`` is what reading the file holds (every layer, at its stored dtype). The
    per-entry byte counts follow the arrays each step allocates (knn: dense float64
    log-profiles of the input genes, then dense spots × targets arrays; commst: spots ×
    targets arrays of the imputation, the reference densified for thinning); methods without
    measured coefficients of their own borrow knn's (their registry entry says so). Measured on the
    bundled demo (tracemalloc, ``tests/test_validate.py``) the terms come out within a factor
    of 1.5 of the allocations; the estimate errs on the high side because ``I`` and ``T`` are
    upper bounds.

    Parameters
    ----------
    spatial, reference
        Sizes of the two inputs (:func:`peek_size` or :meth:`DataSize.from_anndata`).
    method
        Imputation method: a name of :data:`commst.tl.methods.REGISTRY` (an unknown name is
        estimated like ``knn``).
    lr_genes
        Genes of the LR database; with the files' gene names they bound ``T``. Without them
        ``T`` is bounded by the reference's genes.

    Returns
    -------
    The estimate of both jobs.
    """
    if spatial.var_names is not None and reference.var_names is not None:
        ref_genes = set(reference.var_names)
        n_input = len(set(spatial.var_names) & ref_genes)
        n_targets = len(ref_genes & set(lr_genes)) if lr_genes is not None else len(ref_genes)
    else:
        n_input = min(spatial.n_vars, reference.n_vars)
        n_targets = min(len(set(lr_genes)), reference.n_vars) if lr_genes is not None else reference.n_vars
    S, C, I, T = spatial.n_obs, reference.n_obs, n_input, n_targets
    csr = spatial.csr_bytes + reference.csr_bytes
    preprocess = _PREPROCESS_BASE + spatial.stored_bytes + reference.stored_bytes + _PREPROCESS_COPIES * csr
    impute = memory_model(method).impute_bytes(n_spots=S, n_cells=C, n_input=I, n_targets=T, csr_bytes=csr)
    return MemoryEstimate(int(preprocess), int(impute), method, S, C, I, T)


@dataclass(frozen=True)
class MemoryLimit:
    """Memory a job may use, in bytes, and where that number comes from."""

    bytes: int
    source: str


def available_memory() -> int:
    """Memory available to a new process now (psutil when installed, else ``os.sysconf``)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with the lock file
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    return int(psutil.virtual_memory().available)


def memory_limit(max_memory_gb: float | None = None, mem_mb: float | None = None) -> MemoryLimit:
    """The memory budget of a job.

    Parameters
    ----------
    max_memory_gb
        ``preprocess.max_memory_gb`` of the config; wins when set.
    mem_mb
        The job's ``resources.mem_mb`` (what the scheduler reserves and enforces).

    Returns
    -------
    The first of the two that is set, else the memory available on this machine now.
    """
    if max_memory_gb is not None:
        return MemoryLimit(int(float(max_memory_gb) * 2**30), f"preprocess.max_memory_gb = {max_memory_gb:g}")
    if mem_mb is not None:
        return MemoryLimit(int(float(mem_mb) * 2**20), f"the job's mem_mb = {float(mem_mb):g}")
    return MemoryLimit(available_memory(), "memory available on this machine")


def check_memory(
    spatial: DataSize | AnnData,
    reference: DataSize | AnnData,
    paths: Sequence[PathLike],
    *,
    limit: MemoryLimit,
    method: str = "knn",
    lr_genes: Sequence[str] | set[str] | None = None,
) -> MemoryEstimate:
    """Stop before the heavy work when the sample needs more memory than the job has.

    Parameters
    ----------
    spatial, reference
        Sizes of the inputs (or the data already read).
    paths
        The spatial file and the reference (named in the message).
    limit
        What the job may use (:func:`memory_limit`).
    method, lr_genes
        See :func:`estimate_memory`.

    Returns
    -------
    The estimate (logged), when it fits.

    Raises
    ------
    CommstInputError
        The estimated peak exceeds ``limit``; the message gives both numbers, the sizes
        behind the estimate and what to change.
    """
    sizes = [x if isinstance(x, DataSize) else DataSize.from_anndata(x) for x in (spatial, reference)]
    est = estimate_memory(sizes[0], sizes[1], method=method, lr_genes=lr_genes)
    logger.info("memory estimate: %s; limit %.2f GiB (%s)", est.describe(), limit.bytes / 2**30, limit.source)
    if est.peak <= limit.bytes:
        return est
    need_mb = int(np.ceil(est.peak * 1.25 / 2**20 / 1000) * 1000)
    fix = (
        f"give the jobs more memory (e.g. --set-resources preprocess:mem_mb={need_mb} "
        f"impute:mem_mb={need_mb} train:mem_mb={need_mb}, or set-resources in the profile), or set "
        f"preprocess.max_memory_gb in the config where the machine has that much; or make the "
        "sample smaller: bin Stereo-seq data larger (bin_size: memory falls with its square), "
        "crop the section or subset the reference to fewer cells"
    )
    if est.impute > est.preprocess and memory_model(method).input_bytes:
        fix += f"; {method} densifies spots × input genes, so a spatial panel with fewer genes also helps"
    raise CommstInputError(
        paths,
        f"needs an estimated {est.peak / 2**30:.1f} GiB of memory ({est.describe()}) but the job "
        f"may use {limit.bytes / 2**30:.1f} GiB ({limit.source})",
        fix,
    )


def preflight_memory(
    spatial_path: PathLike,
    reference_path: PathLike,
    *,
    spatial_format: str,
    limit: MemoryLimit,
    method: str = "knn",
    lr_genes: Sequence[str] | set[str] | None = None,
    spatial: AnnData | None = None,
    reference: AnnData | None = None,
) -> bool:
    """Memory check of preprocess: before reading when the files can be peeked at, else after.

    Call it once before reading (without ``spatial``/``reference``); when it returns
    ``False`` (a format whose size is known only after reading) call it again with the data
    read, before any other work.

    Returns
    -------
    Whether the check ran.

    Raises
    ------
    CommstInputError
        See :func:`check_memory`.
    """
    if spatial is not None and reference is not None:
        sizes: tuple[DataSize | AnnData | None, ...] = (spatial, reference)
    else:
        sizes = (peek_size(spatial_path, spatial_format), peek_size(reference_path, "h5ad"))
    if any(s is None for s in sizes):
        return False
    check_memory(sizes[0], sizes[1], (spatial_path, reference_path), limit=limit, method=method, lr_genes=lr_genes)
    return True
