"""One method on one pair, timed in a child process (what rule ``scale_run_*`` measures)."""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import psutil

from commst.benchmark.scale.meter import high_water_mark, measure
from commst.benchmark.scale.synth import gene_sets, pair_summary
from commst.tl.methods import REGISTRY

logger = logging.getLogger(__name__)


def device_params(method: str, device: str) -> dict[str, str]:
    """Keyword arguments that put ``method`` on ``device`` (``cpu`` or ``cuda``): its registry entry's.

    Raises
    ------
    ValueError
        ``device='cuda'`` for a method without a GPU implementation (:attr:`MethodMeta.device` is ``None``).
    """
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    meta = REGISTRY.get(method)
    if meta is not None and meta.device is not None:
        return meta.device.kwargs(device)
    if device == "cuda":
        gpu = sorted(name for name, entry in REGISTRY.items() if entry.device is not None)
        raise ValueError(f"method {method!r} has no GPU implementation; GPU methods: {gpu}")
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
) -> dict[str, Any]:
    """Load a prepared pair and train + impute all its LR targets with one method, timed.

    The method is looked up as the benchmark does (:func:`commst.benchmark.spec.resolve_method`):
    a method of :data:`commst.tl.methods.REGISTRY` (``commst`` with the ``model:`` settings it is
    given; it uses no prior artefacts) or ``extra_method`` (``module:function``). Targets are
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
        CPU threads the run was given (recorded).

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
    targets, inputs = gene_sets(spatial, reference)
    base = method
    try:
        t1 = time.perf_counter()
        from commst.benchmark.spec import resolve_method

        if extra_method is None:
            own = {**dict(params or {}), **device_params(method, device)}
        else:
            own = dict(params or {})
            if device == "cuda":
                raise ValueError(f"method {method!r} has no GPU implementation")
        spec = resolve_method(
            method,
            params={method: own},
            extra_methods={method: extra_method} if extra_method else None,
        )
        base = spec.base
        record["params"] = json.loads(json.dumps(spec.params, default=str))
        record["setup_s"] = round(time.perf_counter() - t1, 3)
        logger.info(
            "%s on %d spots x %d cells, %d targets, %d inputs, %s",
            method,
            spatial.n_obs,
            reference.n_obs,
            len(targets),
            len(inputs),
            device,
        )
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
    record["self_peak_rss_mb"] = round(high_water_mark(psutil.Process()) / 2**20, 1)
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
    log_path
        Output of the child.

    Returns
    -------
    One record: the columns of :data:`SCALE_COLUMNS` plus ``returncode``, limits, ``setup_s``,
    ``params``, ``versions`` and what the child reported. ``status`` is the child's own
    (``failed`` with its error when the method raised) unless :func:`measure` killed it.
    """
    with tempfile.TemporaryDirectory(prefix="commst-scale-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [
            sys.executable,
            "-m",
            "commst.benchmark.scale",
            "run",
            "--method",
            method,
            "--spatial",
            str(spatial_path),
            "--reference",
            str(reference_path),
            "--device",
            device,
            "--out",
            str(out),
            "--params",
            json.dumps(dict(params or {})),
            "--seed",
            str(seed),
            "--threads",
            str(threads),
        ]
        if extra_method:
            cmd += ["--extra-method", extra_method]
        measured = measure(
            cmd,
            time_limit_s=time_limit_s,
            memory_limit_mb=memory_limit_mb,
            poll_s=poll_s,
            env=child_env(threads, device),
            log_path=log_path,
        )
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
