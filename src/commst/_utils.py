"""Small helpers shared across the package: atomic writes, figures, versions, logging."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
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


#: Names :func:`atomic_path` gives its temporary files: ``.{name}.{8 random}.part{suffix}``.
_PART = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.part(\.[^/]*)?$")


def remove_stale_parts(*roots: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files killed jobs left under ``roots`` (see :func:`atomic_path`).

    A job killed with SIGKILL cannot clean up after itself; the workflow calls this when a
    run starts (``onstart``), when no job of this working directory is running (Snakemake's
    lock). Only files named like :func:`atomic_path`'s temporaries are touched.

    Returns
    -------
    The files removed.
    """
    removed = []
    for root in map(Path, roots):
        if not root.is_dir():
            continue
        for path in root.rglob(".*.part*"):
            if path.is_file() and _PART.match(path.name):
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


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


def save_figure(fig: Any, path: str | os.PathLike[str], *, close: bool = True, **kwargs: Any) -> None:
    """Save a matplotlib figure to ``path`` atomically (format from the suffix), then close it.

    Keyword arguments go to ``Figure.savefig`` (default ``dpi=150``, ``bbox_inches="tight"``).
    The backend is never switched here: scripts and tests choose it (``MPLBACKEND``).
    """
    kwargs.setdefault("dpi", 150)
    kwargs.setdefault("bbox_inches", "tight")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png", **kwargs)
    if close and getattr(fig.canvas, "manager", None) is not None:  # a pyplot figure
        import matplotlib.pyplot as plt

        plt.close(fig)


def spatial_axes(ax: Any) -> Any:
    """Put a spatial map's axes in the package's one orientation: equal aspect, x to the right,
    y growing downward as the rows of a tissue image (Visium pixels, Stereo-seq chip coordinates;
    see :mod:`commst.pl`). Idempotent; returns ``ax``."""
    ax.set_aspect("equal")
    if not ax.yaxis_inverted():
        ax.invert_yaxis()
    return ax


def write_text(text: str, path: str | os.PathLike[str]) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


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


#: Columns of a step's warnings table (``warnings.tsv``, shown in the report).
WARNING_COLUMNS = ("step", "message")


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def collect_warnings(logger_name: str = "commst") -> Iterator[list[str]]:
    """Collect the warnings CommST logs while the block runs (for the report's warnings table).

    Yields the list the messages are appended to (only ``logger_name`` and its children:
    third-party warnings stay in the log file alone).
    """
    handler = _Collector()
    log = logging.getLogger(logger_name)
    log.addHandler(handler)
    try:
        yield handler.messages
    finally:
        log.removeHandler(handler)


def write_warnings(messages: list[str], path: str | os.PathLike[str], step: str) -> None:
    """Write a step's warnings as a table (``step``, ``message``; header only when there are none)."""
    import pandas as pd

    table = pd.DataFrame({"step": [step] * len(messages), "message": messages}, columns=list(WARNING_COLUMNS))
    write_table(table, path)


def zscore(x: np.ndarray) -> np.ndarray:
    """Z-score the columns of ``x`` (population SD); constant columns become zeros.

    Returns a new float64 array: one copy of ``x``, then centred and scaled in place (no
    temporaries of ``x``'s size: at 10^5 cells × 500 genes each is 400 MB).
    """
    out = np.array(x, dtype=np.float64)
    out -= out.mean(axis=0)
    sd = np.sqrt(np.einsum("ij,ij->j", out, out) / max(out.shape[0], 1))
    out /= np.where(sd > 0, sd, 1.0)
    return out


def pcc(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Pearson correlation per column (gene) over rows (spots).

    Parameters
    ----------
    truth, pred
        Spots x genes arrays of the same shape.

    Returns
    -------
    Array with one value per gene: NaN where the truth is constant, 0 where only the
    prediction is constant.
    """
    t = truth - truth.mean(axis=0)
    p = pred - pred.mean(axis=0)
    st, sp = np.sqrt((t**2).sum(axis=0)), np.sqrt((p**2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (t * p).sum(axis=0) / (st * sp)
    r = np.where(sp > 0, r, 0.0)
    r = np.where(st > 0, r, np.nan)
    return np.clip(r, -1.0, 1.0)
