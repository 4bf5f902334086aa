"""Small helpers shared across the package: atomic writes, versions, logging."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np

#: Packages whose versions are recorded in every output's provenance.
PROVENANCE_PACKAGES = ("commst", "anndata", "scanpy", "liana", "squidpy", "numpy", "scipy", "torch")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only on success.

    A failure (exception, kill) never leaves a half-written ``path`` behind: the
    temporary file is removed and an existing ``path`` stays as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files; give the result the permissions a normal open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_h5ad(adata: ad.AnnData, path: str | os.PathLike[str]) -> None:
    """Write ``adata`` to ``path`` atomically (compressed)."""
    with atomic_path(path) as tmp:
        adata.write_h5ad(tmp, compression="gzip")


def write_table(df: Any, path: str | os.PathLike[str], **kwargs: Any) -> None:
    """Write a pandas DataFrame as a tab-separated table atomically."""
    kwargs.setdefault("sep", "\t")
    kwargs.setdefault("index", False)
    with atomic_path(path) as tmp:
        df.to_csv(tmp, **kwargs)


def write_json(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write ``obj`` as indented JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def package_versions(packages: tuple[str, ...] = PROVENANCE_PACKAGES) -> dict[str, str]:
    """Installed versions of ``packages`` (missing ones are left out)."""
    versions = {}
    for name in packages:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


def log_to_file(path: str | os.PathLike[str] | None, level: int = logging.INFO) -> None:
    """Send the root logger (and warnings) to ``path``, as Snakemake ``log:`` files expect."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers = [logging.FileHandler(path, mode="w")]
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    logging.captureWarnings(True)


def run_logged(log_path: str | os.PathLike[str] | None, func: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``func`` with logging sent to ``log_path``; a failure is logged with its traceback.

    Used by the workflow's scripts so each rule's ``log:`` file tells what happened; the
    exception is re-raised so the job fails and Snakemake removes its outputs.
    """
    log_to_file(log_path)
    log = logging.getLogger("commst")
    try:
        return func(*args, **kwargs)
    except Exception:
        log.exception("failed")
        raise


def zscore(x: np.ndarray) -> np.ndarray:
    """Z-score the columns of ``x`` (population SD); constant columns become zeros."""
    sd = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
