"""Scale benchmark: larger realistic data from a real pair, and time and memory of each method.

Issue #7 asks how train + impute grow from 10^3 to 10^5 (or 10^6) spots with matched
reference sizes, for CommST and its peers, on CPU and on a GPU. This module holds the logic
of the ``scale`` rules of the workflow (``workflow/rules/scale.smk``), usable without
Snakemake:

- :func:`synthesize_pair` makes a larger (or smaller) prepared pair from a real prepared
  pair (:func:`commst.pp.prepare` output): spots by tiling the slide with noisy copies,
  reference cells by cell-type-stratified resampling with the same noise; sparse throughout.
- :func:`measure` runs a command in its own process group and records its wall time and the
  peak resident memory of its whole process tree, killing it past a time or memory limit, so
  that a method running out of memory is *recorded*, not fatal.
- :func:`run_method` is what the measured child runs (``python -m commst.benchmark.scale
  run ...``): load the pair, then train + impute every LR target with one method, timing the
  loading and the method apart.
- :func:`scale_job` puts the two together for one (size, method, device);
  :func:`scale_table` and :func:`fit_table` gather the runs into ``scale.tsv`` and the
  fitted growth exponents (:func:`fit_exponent`) into ``scale_fit.tsv``.

Command line::

    python -m commst.benchmark.scale synthesize --spatial S.h5ad --reference R.h5ad \\
        --n-spots 100000 --n-cells 100000 --out-dir data/
    python -m commst.benchmark.scale run --method knn --spatial data/spatial.h5ad \\
        --reference data/reference.h5ad --device cpu --out knn.json [--params '{"k": 20}']
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import psutil
import scipy.sparse as sp
from scipy.spatial import cKDTree

logger = logging.getLogger(__name__)

SCALE_COLUMNS: tuple[str, ...] = (
    "method", "device", "n_spots", "n_cells", "n_targets", "n_inputs",
    "wall_s", "load_s", "method_s", "peak_rss_mb", "status", "error",
)
"""Columns of ``scale.tsv``: one row per (method, device, size). ``wall_s`` is the whole
measured process (start-up, imports, loading, method); ``method_s`` the train + impute call
alone; ``load_s`` reading the two h5ad files; ``peak_rss_mb`` the peak resident memory of the
process tree in MiB."""

FIT_COLUMNS: tuple[str, ...] = ("method", "device", "time_exponent", "memory_exponent", "n_sizes", "sizes")
"""Columns of ``scale_fit.tsv``: slopes of log(method_s) and log(peak_rss_mb) against
log(n_spots) over the completed runs."""

#: Methods that can run on a GPU, and the keyword (and its values) that choose the device.
DEVICE_PARAMS: dict[str, tuple[str, dict[str, str]]] = {
    "commst": ("device", {"cpu": "cpu", "cuda": "cuda"}),
    "tangram": ("device", {"cpu": "cpu", "cuda": "cuda:0"}),
    "gimvi": ("accelerator", {"cpu": "cpu", "cuda": "gpu"}),
    "hvg_ae": ("device", {"cpu": "cpu", "cuda": "cuda"}),
}

STATUSES: tuple[str, ...] = ("ok", "failed", "oom", "timeout")
"""Values of ``status``: finished; raised or exited non-zero; killed past the memory limit;
killed past the time limit."""

_NOISE_CHUNK = 1 << 22  # count entries drawn per call, so the noise needs O(chunk) extra memory


# ---------------------------------------------------------------------------------------------
# Synthetic data
# ---------------------------------------------------------------------------------------------

def _counts(adata: ad.AnnData) -> sp.csr_matrix:
    """Raw counts (``layers['counts']``, else ``X``) as float32 CSR, without densifying."""
    x = adata.layers.get("counts", adata.X)
    x = x if sp.issparse(x) else sp.csr_matrix(x)
    return sp.csr_matrix(x, dtype=np.float32)


class _CountHistogram:
    """How often each gene has each non-zero integer count in a real counts matrix (CSR)."""

    def __init__(self, counts: sp.csr_matrix) -> None:
        data = counts.data
        whole = (data >= 1) & (data == np.floor(data))
        self.stride = int(data[whole].max()) + 2 if whole.any() else 2
        genes = counts.indices[whole].astype(np.int64)
        self.keys, self.freq = np.unique(genes * self.stride + data[whole].astype(np.int64), return_counts=True)

    def __call__(self, genes: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Frequency of ``values`` (int64, at most ``stride - 1``) of ``genes`` in the real data (0 if never seen)."""
        keys = genes * self.stride + values
        pos = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return np.where(self.keys[pos] == keys, self.freq[pos], 0)


def _noisy_rows(counts: sp.csr_matrix, rows: np.ndarray, rng: np.random.Generator, steps: int = 2) -> sp.csr_matrix:
    """Rows ``rows`` of ``counts`` (repeats allowed) with count noise that keeps each gene's count distribution.

    Each non-zero integer count takes ``steps`` Metropolis steps of +-1 whose stationary
    distribution is the gene's real distribution of non-zero counts: from ``c`` the proposal
    ``c' = c +- 1`` is accepted with probability ``min(1, n_g(c') / n_g(c))``, ``n_g(c)`` being
    how many real observations have count ``c`` of gene ``g``. So zeros stay zero, non-zeros
    stay non-zero, and the distribution of counts per gene (hence the share of zeros and the
    mean library size) is kept in expectation, while individual counts change. (Poisson noise
    around each count would keep the mean too, but turns many 2s into 1s and inflates the share
    of ones: 51% -> 61% of the non-zero counts of the demo's spots.) Non-integer values are
    copied unchanged. Memory is O(nnz of the result).
    """
    hist = _CountHistogram(counts)
    out = counts[rows]
    out.sum_duplicates()
    data, genes = out.data, out.indices
    for start in range(0, data.size, _NOISE_CHUNK):
        part = data[start : start + _NOISE_CHUNK]
        movable = np.flatnonzero((part >= 1) & (part == np.floor(part)))
        g = genes[start : start + _NOISE_CHUNK][movable].astype(np.int64)
        c = part[movable].astype(np.int64)
        for _ in range(steps):
            prop = c + (2 * rng.integers(0, 2, size=c.size) - 1)
            ratio = hist(g, np.maximum(prop, 0)) / np.maximum(hist(g, c), 1)
            accept = (prop >= 1) & (rng.random(c.size) < ratio)
            c[accept] = prop[accept]
        part[movable] = c
    out.eliminate_zeros()
    return out


def _log_normalise(counts: sp.csr_matrix, target_sum: float) -> sp.csr_matrix:
    """``log1p(counts / library * target_sum)`` as CSR (what :func:`commst.pp.normalise` writes to ``X``)."""
    x = counts.copy()
    lib = np.asarray(counts.sum(axis=1), dtype=np.float64).ravel()
    scale = np.divide(target_sum, lib, out=np.zeros_like(lib), where=lib > 0).astype(np.float32)
    x.data *= np.repeat(scale, np.diff(x.indptr))
    np.log1p(x.data, out=x.data)
    return x


def _target_sum(adata: ad.AnnData, default: float = 1e4) -> float:
    """The library size ``adata.X`` was log-normalised to (read back from a non-empty row)."""
    if "counts" not in adata.layers or adata.n_obs == 0:
        return default
    x = adata.X[:1]
    values = x.toarray() if sp.issparse(x) else np.asarray(x)
    total = float(np.expm1(values.astype(np.float64)).sum())
    return float(round(total)) if total > 0 else default


def spot_spacing(coords: np.ndarray) -> float:
    """Median distance from each spot to its nearest neighbour (the slide's spot spacing)."""
    coords = np.asarray(coords, dtype=np.float64)[:, :2]
    if len(coords) < 2:
        return 1.0
    dist, _ = cKDTree(coords).query(coords, k=2)
    return float(np.median(dist[:, 1]))


def _tile_layout(coords: np.ndarray, n_spots: int, spacing: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source spot, tile and (x, y) offset of each of ``n_spots`` tiled spots.

    Full tiles are copies of the whole slide; a last partial tile (or the only one, when
    ``n_spots`` is below the slide's size) keeps the spots nearest the slide's centre, so the
    spacing inside it stays the real one. Tiles sit on a near-square grid, one spacing apart.
    """
    n_real = len(coords)
    n_full, rest = divmod(n_spots, n_real)
    n_tiles = n_full + (rest > 0)
    sources = [np.arange(n_real)] * n_full
    if rest:
        centre = np.median(coords, axis=0)
        nearest = np.argsort(((coords - centre) ** 2).sum(axis=1), kind="stable")[:rest]
        sources.append(np.sort(nearest))
    source = np.concatenate(sources).astype(np.int64)
    tile = np.repeat(np.arange(n_tiles, dtype=np.int32), [len(s) for s in sources])
    n_cols = math.ceil(math.sqrt(n_tiles))
    extent = coords.max(axis=0) - coords.min(axis=0) + spacing
    grid = np.stack([np.arange(n_tiles) % n_cols, np.arange(n_tiles) // n_cols], axis=1)
    return source, tile, grid * extent


def _stratified_sample(labels: pd.Series, n_cells: int, rng: np.random.Generator) -> np.ndarray:
    """``n_cells`` row positions drawn with replacement within each label, keeping label shares.

    Counts per label are the largest-remainder rounding of ``n_cells`` times each label's
    share; the result is shuffled.
    """
    codes, uniques = pd.factorize(labels, sort=True)
    sizes = np.bincount(codes, minlength=len(uniques))
    exact = n_cells * sizes / sizes.sum()
    take = np.floor(exact).astype(np.int64)
    short = n_cells - int(take.sum())
    if short:
        take[np.argsort(-(exact - take), kind="stable")[:short]] += 1
    parts = [
        rng.choice(np.flatnonzero(codes == k), size=int(n), replace=True)
        for k, n in enumerate(take) if n > 0
    ]
    rows = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return rows[rng.permutation(len(rows))]


def _copy_uns(uns: Mapping[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(dict(uns))


def synthesize_pair(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    *,
    n_spots: int,
    n_cells: int,
    seed: int = 0,
    jitter: float = 0.05,
    cell_type_key: str = "cell_type",
) -> tuple[ad.AnnData, ad.AnnData]:
    """A prepared spatial/reference pair of any size, generated from a real prepared pair.

    Parameters
    ----------
    spatial
        Prepared spatial data (:func:`commst.pp.prepare`): raw counts in ``layers['counts']``,
        log-normalised ``X``, ``obsm['spatial']``, ``uns['commst']['genes']``.
    reference
        Prepared reference with ``obs[cell_type_key]``.
    n_spots, n_cells
        Sizes of the result.
    seed
        Seed of every random draw; the same seed gives the same pair.
    jitter
        Coordinates move by up to this share of the spot spacing along each axis.
    cell_type_key
        Cell-type column of the reference.

    Returns
    -------
    ``(spatial, reference)``, new AnnData objects with the genes, ``var`` and ``uns`` of the
    input (``uns['commst']['genes']`` kept; ``uns['commst_scale']`` records how they were made),
    float32 CSR counts in ``layers['counts']`` and ``X = log1p(counts / library * target_sum)``
    as the input's ``X`` (``target_sum`` read back from it), ``obs['total_counts']``.

    **Spots** tile the slide: copies of the real slide on a near-square grid of tiles, one spot
    spacing apart (the last tile partial: the spots nearest the centre), every spot a copy of
    the real spot at that position with count noise that keeps each gene's distribution of
    counts (:func:`_noisy_rows`: zeros stay zero, each non-zero count moves by +-1 steps that
    leave the real distribution unchanged; share of zeros and mean library size kept), coordinates offset per
    tile plus a uniform jitter of ``jitter`` times the spacing, so the spacing, the count
    distribution and the spatial structure within a tile stay the real ones.
    ``obs['tile']`` and ``obs['source']`` (the real spot) say where each spot came from.
    **Reference cells** are drawn with replacement within each cell type, keeping the type
    proportions (largest-remainder rounding), with the same count noise; ``obs['source']`` is
    the real cell.

    Memory grows with the number of non-zero counts (nothing dense spots × genes is built).
    """
    if n_spots < 1 or n_cells < 1:
        raise ValueError(f"n_spots and n_cells must be positive, got {n_spots} and {n_cells}")
    if "spatial" not in spatial.obsm:
        raise ValueError("spatial data lack obsm['spatial'] (coordinates); pass a prepared pair")
    if cell_type_key not in reference.obs:
        raise ValueError(f"reference lacks obs[{cell_type_key!r}]; pass a prepared pair")
    rng_spots, rng_cells = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    target_sum = _target_sum(spatial)

    coords = np.asarray(spatial.obsm["spatial"], dtype=np.float64)[:, :2]
    spacing = spot_spacing(coords)
    source, tile, offset = _tile_layout(coords, int(n_spots), spacing)
    xy = coords[source] + offset[tile] + rng_spots.uniform(-jitter, jitter, size=(len(source), 2)) * spacing
    counts = _noisy_rows(_counts(spatial), source, rng_spots)
    obs = spatial.obs.iloc[source].reset_index(drop=True)
    obs["tile"] = tile
    obs["source"] = pd.Categorical.from_codes(source, categories=spatial.obs_names.astype(str))
    obs["total_counts"] = np.asarray(counts.sum(axis=1), dtype=np.float32).ravel()
    obs.index = pd.Index([f"spot{i}" for i in range(len(source))])
    new_spatial = ad.AnnData(X=_log_normalise(counts, target_sum), obs=obs, var=spatial.var.copy(),
                             uns=_copy_uns(spatial.uns), layers={"counts": counts})
    new_spatial.obsm["spatial"] = xy
    new_spatial.uns["commst_scale"] = {
        "source_n_obs": int(spatial.n_obs), "n_tiles": int(tile.max()) + 1, "spacing": spacing,
        "jitter": jitter, "seed": int(seed), "target_sum": target_sum,
        "noise": "2 Metropolis steps of +-1 per non-zero count, stationary on the gene's real count distribution",
    }

    rows = _stratified_sample(reference.obs[cell_type_key].astype(str), int(n_cells), rng_cells)
    ref_counts = _noisy_rows(_counts(reference), rows, rng_cells)
    ref_obs = reference.obs.iloc[rows].reset_index(drop=True)
    ref_obs["source"] = pd.Categorical.from_codes(rows, categories=reference.obs_names.astype(str))
    ref_obs["total_counts"] = np.asarray(ref_counts.sum(axis=1), dtype=np.float32).ravel()
    ref_obs.index = pd.Index([f"cell{i}" for i in range(len(rows))])
    new_reference = ad.AnnData(X=_log_normalise(ref_counts, _target_sum(reference)), obs=ref_obs,
                               var=reference.var.copy(), uns=_copy_uns(reference.uns),
                               layers={"counts": ref_counts})
    new_reference.uns["commst_scale"] = {
        "source_n_obs": int(reference.n_obs), "seed": int(seed), "stratified_by": cell_type_key,
        "noise": new_spatial.uns["commst_scale"]["noise"],
    }
    return new_spatial, new_reference


def pair_summary(spatial: ad.AnnData, reference: ad.AnnData) -> dict[str, int]:
    """Sizes recorded with a pair: ``n_spots``, ``n_cells``, ``n_targets``, ``n_inputs``."""
    targets, inputs = _gene_sets(spatial, reference)
    return {"n_spots": int(spatial.n_obs), "n_cells": int(reference.n_obs),
            "n_targets": len(targets), "n_inputs": len(inputs)}


def write_pair(spatial: ad.AnnData, reference: ad.AnnData, spatial_path: str | os.PathLike[str],
               reference_path: str | os.PathLike[str]) -> None:
    """Write a pair atomically, uncompressed (fast to write and to read back at 10^5–10^6 rows)."""
    from commst._utils import atomic_path

    for adata, path in ((spatial, spatial_path), (reference, reference_path)):
        with atomic_path(path) as tmp:
            adata.write_h5ad(tmp)


# ---------------------------------------------------------------------------------------------
# Measuring a process
# ---------------------------------------------------------------------------------------------

def _high_water_mark(proc: psutil.Process) -> int:
    """Peak resident memory (bytes) of ``proc``'s current program (``VmHWM``; 0 if unknown).

    Unlike ``ru_maxrss`` (getrusage / wait4), ``VmHWM`` starts afresh at ``exec``: the copy of
    the parent that ``fork`` makes before the command starts is not counted.
    """
    try:
        with open(f"/proc/{proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _tree_rss(root: psutil.Process) -> tuple[int, int]:
    """Current and peak resident memory (bytes) summed over ``root`` and its descendants
    (vanished ones count 0); the peak is each process's ``VmHWM``, or its RSS where the
    platform has no ``/proc``."""
    try:
        procs = [root, *root.children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return 0, 0
    total, peak = 0, 0
    for proc in procs:
        try:
            rss = proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
        total += rss
        peak += max(rss, _high_water_mark(proc))
    return total, peak


def _kill_tree(pid: int, root: psutil.Process) -> None:
    """SIGKILL the process group ``pid`` and any descendant that left it."""
    try:
        stray = root.children(recursive=True)
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        stray = []
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for proc in stray:
        try:
            proc.kill()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue


def _tail(path: Path, n_lines: int) -> str:
    """The last ``n_lines`` non-empty lines of a text file (at most its last 64 kB)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 65536))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    return "\n".join(lines[-n_lines:])


def measure(
    command: Sequence[str],
    *,
    time_limit_s: float,
    memory_limit_mb: float,
    poll_s: float = 0.2,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    log_path: str | os.PathLike[str] | None = None,
    tail_lines: int = 15,
) -> dict[str, Any]:
    """Run ``command`` and measure its wall time and the peak memory of its process tree.

    The command runs in its own session (so its own process group). Every ``poll_s`` seconds
    the resident memory (RSS) of the process and all its descendants is summed; past
    ``memory_limit_mb`` or ``time_limit_s`` the whole group is killed (SIGKILL) and the run is
    recorded as ``oom`` or ``timeout``. The peak is the sum of the processes' high-water marks (``VmHWM``, reset at ``exec``),
    so a short peak between two polls is not missed (except in the last ``poll_s`` before
    exit); a run whose peak passed the limit counts as ``oom`` even when it finished.

    Parameters
    ----------
    command
        Program and arguments (no shell).
    time_limit_s, memory_limit_mb
        Limits of wall time (seconds) and of the tree's RSS (MiB).
    poll_s
        Polling interval in seconds.
    env, cwd
        Environment and working directory of the command (default: this process's).
    log_path
        File that receives the command's stdout and stderr; without it stderr goes to a
        temporary file (for the error message) and stdout is discarded.
    tail_lines
        Lines of output kept as the error of a failed run.

    Returns
    -------
    Dict with ``status`` (``ok``, ``failed``, ``oom``, ``timeout``), ``error`` (empty when ok;
    ``out of memory (> N MB)``, ``timeout (> N s)`` or the last lines of stderr),
    ``wall_s``, ``peak_rss_mb`` (MiB), ``returncode`` (negative: killed by that signal),
    ``time_limit_s`` and ``memory_limit_mb``.
    """
    limit_bytes = float(memory_limit_mb) * 2**20
    with tempfile.TemporaryDirectory(prefix="commst-measure-") as tmp:
        out_path = Path(log_path) if log_path is not None else Path(tmp) / "stderr.txt"
        out_path.parent.mkdir(parents=True, exist_ok=True)
        with open(out_path, "wb") as out:
            start = time.perf_counter()
            proc = subprocess.Popen(  # a list of arguments, no shell
                list(map(str, command)),
                stdin=subprocess.DEVNULL,
                stdout=out if log_path is not None else subprocess.DEVNULL,
                stderr=out if log_path is None else subprocess.STDOUT,
                env=None if env is None else dict(env),
                cwd=cwd,
                start_new_session=True,
            )
        root = psutil.Process(proc.pid)
        peak, status, wait_status = 0, "", 0
        while True:
            pid, wait_status = os.waitpid(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            rss, hwm = _tree_rss(root)
            peak = max(peak, hwm)
            elapsed = time.perf_counter() - start
            if rss > limit_bytes or elapsed > time_limit_s:
                status = "oom" if rss > limit_bytes else "timeout"
                _kill_tree(proc.pid, root)
                _, wait_status = os.waitpid(proc.pid, 0)
                break
            time.sleep(poll_s)
        wall = time.perf_counter() - start
        returncode = os.waitstatus_to_exitcode(wait_status)
        proc.returncode = returncode  # reaped here: tell Popen it is done
        # not wait4's ru_maxrss: it counts the forked copy of this (large) process before exec
        if not status:
            if peak > limit_bytes:
                status = "oom"
            elif returncode != 0:
                status = "failed"
            else:
                status = "ok"
        if status == "oom":
            error = f"out of memory (> {memory_limit_mb:g} MB)"
        elif status == "timeout":
            error = f"timeout (> {time_limit_s:g} s)"
        elif status == "failed":
            tail = _tail(out_path, tail_lines)
            how = f"killed by signal {-returncode}" if returncode < 0 else f"exit status {returncode}"
            error = f"{how}: {tail}" if tail else how
        else:
            error = ""
    return {
        "status": status,
        "error": error,
        "wall_s": round(wall, 3),
        "peak_rss_mb": round(peak / 2**20, 1),
        "returncode": returncode,
        "time_limit_s": float(time_limit_s),
        "memory_limit_mb": float(memory_limit_mb),
    }


# ---------------------------------------------------------------------------------------------
# One method on one pair (what the measured child runs)
# ---------------------------------------------------------------------------------------------

def _gene_sets(spatial: ad.AnnData, reference: ad.AnnData) -> tuple[list[str], list[str]]:
    """LR targets (reference genes) and input genes (in both) of a prepared pair."""
    genes = spatial.uns["commst"]["genes"]
    ref_genes, sp_genes = set(reference.var_names), set(spatial.var_names)
    targets = [str(g) for g in genes["lr_targets"] if g in ref_genes]
    inputs = [str(g) for g in genes["input"] if g in ref_genes and g in sp_genes]
    return targets, inputs


def device_params(method: str, device: str) -> dict[str, str]:
    """Keyword arguments that put ``method`` on ``device`` (``cpu`` or ``cuda``).

    Raises
    ------
    ValueError
        ``device='cuda'`` for a method without a GPU implementation (see :data:`DEVICE_PARAMS`).
    """
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if method in DEVICE_PARAMS:
        key, values = DEVICE_PARAMS[method]
        return {key: values[device]}
    if device == "cuda":
        raise ValueError(f"method {method!r} has no GPU implementation; GPU methods: {sorted(DEVICE_PARAMS)}")
    return {}


def run_method(
    method: str,
    spatial_path: str | os.PathLike[str],
    reference_path: str | os.PathLike[str],
    *,
    device: str = "cpu",
    params: Mapping[str, Any] | None = None,
    extra_method: str | None = None,
    seed: int = 0,
    threads: int | None = None,
    species: str = "human",
    lr_path: str | os.PathLike[str] | None = None,
    ppi_path: str | os.PathLike[str] | None = None,
    ligand_target_path: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Load a prepared pair and train + impute all its LR targets with one method, timed.

    The method is looked up as the benchmark does (:func:`commst.benchmark.workflow.resolve_method`):
    ``commst`` with its priors (the PPI graph and ligand-target matrix built from the prior
    artefacts inside the call, so they count as the method's time), a baseline of
    :data:`commst.tl.METHODS`, or ``extra_method`` (``module:function``). Targets are
    ``uns['commst']['genes']['lr_targets']``, inputs ``uns['commst']['genes']['input']``.

    Parameters
    ----------
    method
        Method name.
    spatial_path, reference_path
        Prepared pair (h5ad).
    device
        ``cpu`` or ``cuda``, passed to the method (:func:`device_params`).
    params
        Keyword arguments of the method (for ``commst``: :class:`commst.model.CommSTConfig` fields).
    extra_method
        ``module:function`` of a method the package does not register.
    seed
        Seed of the method.
    threads
        CPU threads for CommST (``num_threads``) when ``params`` does not set them.
    species, lr_path, ppi_path, ligand_target_path
        Prior artefacts of CommST (``results/priors/{species}/...``); without them its priors are off.

    Returns
    -------
    Dict: ``method``, ``device``, sizes (:func:`pair_summary`), ``load_s``, ``setup_s``,
    ``method_s``, ``status`` (``ok``/``failed``), ``error``, ``params``, ``output`` (shape and
    mean of the imputed counts), ``self_peak_rss_mb``, ``versions``; on ``cuda`` also ``gpu``
    and ``gpu_peak_mb`` (peak memory of torch tensors on the GPU).
    Exceptions of the method are caught and recorded.
    """
    from commst._utils import package_versions

    record: dict[str, Any] = {"method": method, "device": device, "status": "failed", "error": ""}
    t0 = time.perf_counter()
    spatial = ad.read_h5ad(spatial_path)
    reference = ad.read_h5ad(reference_path)
    record["load_s"] = round(time.perf_counter() - t0, 3)
    record.update(pair_summary(spatial, reference))
    targets, inputs = _gene_sets(spatial, reference)
    base = method
    try:
        t1 = time.perf_counter()
        from commst.benchmark.workflow import resolve_method

        if extra_method is None:
            own = {**dict(params or {}), **device_params(method, device)}
        else:
            own = dict(params or {})
            if device == "cuda":
                raise ValueError(f"method {method!r} has no GPU implementation")
        lr = pd.read_csv(lr_path, sep="\t") if lr_path else None
        spec = resolve_method(
            method, params={method: own}, extra_methods={method: extra_method} if extra_method else None,
            species=species, lr=lr, ppi_path=None if ppi_path is None else str(ppi_path),
            ligand_target_path=None if ligand_target_path is None else str(ligand_target_path), threads=threads,
        )
        base = spec.base
        record["params"] = json.loads(json.dumps(spec.params, default=str))
        record["setup_s"] = round(time.perf_counter() - t1, 3)
        logger.info("%s on %d spots x %d cells, %d targets, %d inputs, %s", method, spatial.n_obs,
                    reference.n_obs, len(targets), len(inputs), device)
        t2 = time.perf_counter()
        result = spec.func(spatial, reference, targets=targets, input_genes=inputs, seed=seed, **spec.params)
        record["method_s"] = round(time.perf_counter() - t2, 3)
        counts = np.asarray(result.counts)
        record["output"] = {"shape": list(counts.shape), "mean": float(counts.mean()) if counts.size else 0.0}
        record["status"] = "ok"
    except Exception as err:  # recorded: a method that cannot run at this size is a result
        logger.exception("%s failed", method)
        record["error"] = f"{type(err).__name__}: {err}"[:1000]
        record["traceback"] = traceback.format_exc()[-4000:]
    record["base"] = base
    record["self_peak_rss_mb"] = round(_high_water_mark(psutil.Process()) / 2**20, 1)
    record["threads"] = threads
    record["versions"] = package_versions()
    if device == "cuda":
        try:
            import torch

            if torch.cuda.is_available():
                record["gpu"] = torch.cuda.get_device_name(0)
                record["gpu_peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)  # torch's own tensors
            else:
                record["gpu"] = "none visible"
        except Exception as err:  # noqa: BLE001 - informational only
            record["gpu"] = f"unknown ({type(err).__name__})"
    return record


def child_env(threads: int, device: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment of a measured run: ``commst`` importable, ``threads`` CPU threads, no GPU on ``cpu``."""
    import commst

    env = dict(os.environ if base is None else base)
    src = str(Path(commst.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[name] = str(int(threads))
    env["PYTHONUNBUFFERED"] = "1"
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def scale_job(
    method: str,
    spatial_path: str | os.PathLike[str],
    reference_path: str | os.PathLike[str],
    *,
    device: str = "cpu",
    params: Mapping[str, Any] | None = None,
    extra_method: str | None = None,
    seed: int = 0,
    threads: int = 1,
    time_limit_s: float = 1800,
    memory_limit_mb: float = 16000,
    poll_s: float = 0.2,
    sizes: Mapping[str, int] | None = None,
    priors: Mapping[str, str] | None = None,
    log_path: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """One measured run: :func:`run_method` in a child process under :func:`measure`.

    Parameters
    ----------
    method, spatial_path, reference_path, device, params, extra_method, seed
        As in :func:`run_method`.
    threads
        CPU threads of the child (``OMP_NUM_THREADS`` and friends, CommST's ``num_threads``).
    time_limit_s, memory_limit_mb, poll_s
        As in :func:`measure`.
    sizes
        ``n_spots``, ``n_cells``, ``n_targets``, ``n_inputs`` of the pair, reported when the
        child is killed before it could say them itself.
    priors
        ``species``, ``lr``, ``ppi``, ``ligand_target`` (paths) for CommST.
    log_path
        Output of the child.

    Returns
    -------
    One record: the columns of :data:`SCALE_COLUMNS` plus ``returncode``, limits, ``setup_s``,
    ``params``, ``versions`` and what the child reported. ``status`` is the child's own
    (``failed`` with its error when the method raised) unless :func:`measure` killed it.
    """
    priors = dict(priors or {})
    with tempfile.TemporaryDirectory(prefix="commst-scale-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [
            sys.executable, "-m", "commst.benchmark.scale", "run", "--method", method,
            "--spatial", str(spatial_path), "--reference", str(reference_path), "--device", device,
            "--out", str(out), "--params", json.dumps(dict(params or {})), "--seed", str(seed),
            "--threads", str(threads),
        ]
        if extra_method:
            cmd += ["--extra-method", extra_method]
        for key, flag in (("species", "--species"), ("lr", "--lr"), ("ppi", "--ppi"), ("ligand_target", "--ligand-target")):
            if priors.get(key):
                cmd += [flag, str(priors[key])]
        measured = measure(cmd, time_limit_s=time_limit_s, memory_limit_mb=memory_limit_mb, poll_s=poll_s,
                           env=child_env(threads, device), log_path=log_path)
        inner = json.loads(out.read_text()) if out.is_file() else {}
    record: dict[str, Any] = {"method": method, "device": device, **dict(sizes or {}), **inner}
    record.update({k: measured[k] for k in ("wall_s", "peak_rss_mb", "returncode", "time_limit_s", "memory_limit_mb")})
    if measured["status"] in ("oom", "timeout") or not inner:
        record["status"], record["error"] = measured["status"], measured["error"]
    elif inner.get("status") == "failed" and not inner.get("error"):
        record["error"] = measured["error"]
    record.setdefault("status", measured["status"])
    for key in ("load_s", "method_s"):
        record.setdefault(key, float("nan"))
    return record


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------

def scale_table(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """``scale.tsv``: one row per run record (:func:`scale_job`), columns :data:`SCALE_COLUMNS`.

    Errors are put on one line; rows are sorted by method, device and size.
    """
    tab = pd.DataFrame([{c: rec.get(c) for c in SCALE_COLUMNS} for rec in records], columns=list(SCALE_COLUMNS))
    tab["error"] = tab["error"].fillna("").astype(str).str.replace(r"\s*\n\s*", " | ", regex=True).str.slice(0, 1000)
    for col in ("wall_s", "load_s", "method_s", "peak_rss_mb"):
        tab[col] = pd.to_numeric(tab[col], errors="coerce")
    return tab.sort_values(["method", "device", "n_spots"], kind="stable").reset_index(drop=True)


def fit_exponent(sizes: Sequence[float], values: Sequence[float]) -> float:
    """Least-squares slope of ``log(value)`` against ``log(size)``: the power ``b`` in ``value ~ size**b``.

    Pairs with a non-finite or non-positive size or value are left out; with fewer than two
    distinct sizes left the slope is NaN. ``b = 1`` is linear growth (doubling the size doubles
    the value).
    """
    x, y = np.asarray(sizes, dtype=np.float64), np.asarray(values, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    x, y = np.log(x[keep]), np.log(y[keep])
    if np.unique(x).size < 2:
        return float("nan")
    return float(np.polyfit(x, y, 1)[0])


def fit_table(table: pd.DataFrame) -> pd.DataFrame:
    """``scale_fit.tsv``: per method and device, exponents of train + impute time and peak RSS.

    Only completed runs (``status == 'ok'``) enter the fit: ``time_exponent`` from
    ``method_s``, ``memory_exponent`` from ``peak_rss_mb`` (the whole process, fixed cost of
    the interpreter and libraries included, so small sizes pull it below the method's own).
    """
    rows = []
    for (method, device), grp in table.groupby(["method", "device"], sort=True):
        ok = grp[grp["status"] == "ok"]
        sizes = sorted(int(s) for s in ok["n_spots"].unique())
        rows.append({
            "method": method, "device": device,
            "time_exponent": fit_exponent(ok["n_spots"], ok["method_s"]),
            "memory_exponent": fit_exponent(ok["n_spots"], ok["peak_rss_mb"]),
            "n_sizes": len(sizes), "sizes": ",".join(map(str, sizes)),
        })
    return pd.DataFrame(rows, columns=list(FIT_COLUMNS))


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m commst.benchmark.scale", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train + impute with one method on a prepared pair; write a JSON record")
    run.add_argument("--method", required=True)
    run.add_argument("--spatial", required=True)
    run.add_argument("--reference", required=True)
    run.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    run.add_argument("--out", required=True, help="JSON record")
    run.add_argument("--params", default="{}", help="keyword arguments of the method (JSON object)")
    run.add_argument("--extra-method", default=None, help="module:function of an unregistered method")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--threads", type=int, default=None)
    run.add_argument("--species", default="human")
    run.add_argument("--lr", default=None, help="LR table (results/priors/{species}/lr_resource.tsv)")
    run.add_argument("--ppi", default=None, help="results/priors/{species}/ppi_edges.parquet")
    run.add_argument("--ligand-target", default=None, help="results/priors/{species}/ligand_target.npz")
    syn = sub.add_parser("synthesize", help="make a larger (or smaller) pair from a prepared pair")
    syn.add_argument("--spatial", required=True)
    syn.add_argument("--reference", required=True)
    syn.add_argument("--n-spots", type=int, required=True)
    syn.add_argument("--n-cells", type=int, required=True)
    syn.add_argument("--seed", type=int, default=0)
    syn.add_argument("--out-dir", required=True, help="writes spatial.h5ad and reference.h5ad there")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (1 when the method failed)."""
    from commst._utils import write_json

    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "synthesize":
        spatial, reference = synthesize_pair(ad.read_h5ad(args.spatial), ad.read_h5ad(args.reference),
                                             n_spots=args.n_spots, n_cells=args.n_cells, seed=args.seed)
        out = Path(args.out_dir)
        write_pair(spatial, reference, out / "spatial.h5ad", out / "reference.h5ad")
        return 0
    params = json.loads(args.params)
    if not isinstance(params, dict):
        raise SystemExit(f"--params must be a JSON object, got {args.params!r}")
    record = run_method(
        args.method, args.spatial, args.reference, device=args.device, params=params,
        extra_method=args.extra_method, seed=args.seed, threads=args.threads, species=args.species,
        lr_path=args.lr, ppi_path=args.ppi, ligand_target_path=args.ligand_target,
    )
    write_json(record, args.out)
    if record["status"] != "ok":
        print(record.get("traceback", ""), file=sys.stderr)
        print(f"{args.method} failed: {record['error']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
