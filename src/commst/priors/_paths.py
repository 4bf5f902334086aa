"""Where the bundled prior tables live and small shared helpers (atomic writes, errors)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

SPECIES = ("human", "mouse")

#: Environment variable that overrides the folder of bundled prior tables.
ENV_BUNDLED = "COMMST_PRIORS_BUNDLED"


class CommstPriorsError(ValueError):
    """Bad input to a prior builder (unknown resource, species, missing file)."""


def bundled_dir() -> Path:
    """Folder of the bundled prior tables.

    ``$COMMST_PRIORS_BUNDLED`` when set, else ``resources/priors/bundled`` of the repository
    that holds this (editable-installed) package.
    """
    env = os.environ.get(ENV_BUNDLED)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "resources" / "priors" / "bundled"


def bundled_file(name: str) -> Path:
    """Path of one bundled table; clear error when it is missing."""
    path = bundled_dir() / name
    if not path.is_file():
        raise CommstPriorsError(
            f"bundled prior table {path} is missing: check out the repository's "
            f"resources/priors/bundled/ folder, or point ${ENV_BUNDLED} at a folder that holds {name}"
        )
    return path


def read_bundled(name: str, **kwargs) -> pd.DataFrame:
    """Read a bundled gzip TSV as strings-by-default DataFrame."""
    return pd.read_csv(bundled_file(name), sep="\t", **kwargs)


def check_species(species: str) -> str:
    """Normalise and validate a species name (``human`` or ``mouse``)."""
    s = str(species).strip().lower()
    aliases = {
        "hs": "human",
        "homo_sapiens": "human",
        "9606": "human",
        "mm": "mouse",
        "mus_musculus": "mouse",
        "10090": "mouse",
    }
    s = aliases.get(s, s)
    if s not in SPECIES:
        raise CommstPriorsError(f"species {species!r} is not supported: use one of {SPECIES}")
    return s
