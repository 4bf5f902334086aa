"""LIANA+ calls made safe: error wrapping, usable LR pairs, LIANA's column sets.

Every LIANA call of :mod:`commst.ccc` goes through :func:`liana_errors`: a failure becomes a
:class:`CommstCCCError` naming the sample, the step, the problem and the fix (LIANA's own
messages can list a thousand genes; they are cut).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import anndata as ad
import numpy as np
import pandas as pd

from .._constants import Keys, subunits
from .._errors import CommstInputError

#: Shown in place of a long bracketed list (e.g. LIANA's "[GENE1, GENE2, ...] missing").
_LIST = re.compile(r"\[[^\]]{80,}\]")
#: Longest third-party message quoted in an error.
_MAX_MESSAGE = 300


class CommstCCCError(RuntimeError):
    """A communication step failed; the message names the sample, the step, the problem and the fix."""

    def __init__(self, sample: str | None, step: str, problem: str, fix: str) -> None:
        self.sample, self.step = sample, step
        self.problem, self.fix = problem.rstrip(". "), fix.rstrip(". ")
        where = f"sample {sample!r}, step {step}" if sample else f"step {step}"
        super().__init__(f"{where}: {self.problem}. Fix: {self.fix}.")

    def __reduce__(self) -> tuple[type, tuple[str | None, str, str, str]]:
        return (type(self), (self.sample, self.step, self.problem, self.fix))


def _short(message: str) -> str:
    """A third-party message fit to quote: first line, long lists cut, at most 300 characters."""
    first = str(message).strip().splitlines()[0] if str(message).strip() else ""
    first = _LIST.sub("[…]", first).rstrip(". ")
    return first if len(first) <= _MAX_MESSAGE else first[: _MAX_MESSAGE - 1] + "…"


@contextlib.contextmanager
def liana_errors(step: str, *, sample: str | None = None) -> Iterator[None]:
    """Turn any exception of the block (a LIANA call) into a :class:`CommstCCCError`."""
    try:
        yield
    except (CommstCCCError, CommstInputError):
        raise
    except Exception as err:  # noqa: BLE001 - a third-party failure, whatever its type
        raise CommstCCCError(
            sample,
            step,
            f"LIANA failed ({type(err).__name__}: {_short(str(err))})",
            "check this step's input file (delete it to have the workflow rebuild it), the LR resource "
            "(lr_resource: name) and the ccc: settings; if they are right, report this message with the log",
        ) from None


def usable_pairs(resource: pd.DataFrame, genes: pd.Index | list[str]) -> pd.DataFrame:
    """The LR pairs whose ligand and receptor subunits (``_``-joined complexes) are all in ``genes``."""
    present = set(map(str, genes))

    def complete(entities: pd.Series) -> np.ndarray:
        return np.array([all(g in present for g in subunits(e)) for e in entities], dtype=bool)

    keep = complete(resource["ligand"]) & complete(resource["receptor"])
    return resource[keep].reset_index(drop=True)


def probe_data(n_groups: int = 2) -> tuple[ad.AnnData, pd.DataFrame]:
    """A tiny dataset LIANA can score: two genes, groups of 10 observations on a grid.

    Used to learn the columns LIANA returns (so empty tables match the installed version).
    """
    rng = np.random.default_rng(0)
    n = 10 * n_groups
    counts = rng.poisson(4.0, size=(n, 2)).astype(np.float32) + 1
    adata = ad.AnnData(
        np.log1p(counts),
        obs=pd.DataFrame(
            {"group": pd.Categorical(np.repeat([f"g{i}" for i in range(n_groups)], 10))},
            index=[f"o{i}" for i in range(n)],
        ),
        var=pd.DataFrame(index=["PROBEL", "PROBER"]),
    )
    adata.obsm[Keys.obsm.spatial] = np.column_stack([np.arange(n) % 5, np.arange(n) // 5]).astype(float)
    return adata, pd.DataFrame({"ligand": ["PROBEL"], "receptor": ["PROBER"]})
