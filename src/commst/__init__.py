"""CommST: ligand/receptor imputation for spatial transcriptomics.

Public namespaces follow scverse: :mod:`commst.io` (readers), :mod:`commst.pp`
(preprocessing), :mod:`commst.tl` (imputation), :mod:`commst.ccc` (communication),
:mod:`commst.pl` (plots), :mod:`commst.priors` (LR database, PPI, ligand→target) and
:mod:`commst.validate` (input checks). ``import commst`` is cheap: each namespace is imported
the first time it is used (``commst.tl.impute(...)``), and importing never changes the
matplotlib backend.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__version__ = "0.1.0"

#: The public namespaces, importable as attributes of the package.
SUBMODULES: tuple[str, ...] = ("ccc", "io", "pl", "pp", "priors", "tl", "validate")


def __getattr__(name: str) -> ModuleType:
    if name in SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *SUBMODULES])
