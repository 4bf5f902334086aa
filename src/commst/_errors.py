"""The error CommST raises for bad input: it names the file, the problem and the fix."""

from __future__ import annotations

import os
from collections.abc import Sequence

PathLike = str | os.PathLike[str]


class CommstInputError(ValueError):
    """Bad input: the message always names the file, the problem and the fix.

    Parameters
    ----------
    path
        The offending file (or several files, e.g. a spatial/reference pair).
    problem
        What is wrong, with numbers where they help (``"contains 3 NaN values"``).
    fix
        What the user should do about it.

    Examples
    --------
    >>> err = CommstInputError("a.h5ad", "contains negative values (min -1.2)", "pass raw UMI counts")
    >>> str(err)
    'a.h5ad: contains negative values (min -1.2). Fix: pass raw UMI counts.'
    """

    def __init__(self, path: PathLike | Sequence[PathLike], problem: str, fix: str) -> None:
        if isinstance(path, (str, os.PathLike)):
            self.path = os.fspath(path)
        else:
            self.path = " and ".join(os.fspath(p) for p in path)
        self.problem = problem.rstrip(". ")
        self.fix = fix.rstrip(". ")
        super().__init__(f"{self.path}: {self.problem}. Fix: {self.fix}.")

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:
        # keep the exception picklable (multiprocessing, Snakemake) despite the 3-argument init
        return (type(self), (self.path, self.problem, self.fix))
