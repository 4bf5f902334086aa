"""Checks of the prior artefacts (LR table, PPI edges, ligand-target matrix)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from .._constants import entity_genes
from ._common import CommstInputError, PathLike, examples
from ._symbols import _HUMAN, _MOUSE

#: Columns each prior artefact must have.
_PRIOR_COLUMNS = {"lr": ("ligand", "receptor"), "ppi": ("gene_1", "gene_2", "weight")}
_PRIOR_FIX = (
    "rebuild the priors: delete results/priors/{species}/ and run the workflow again (rules priors_*); "
    "for a custom file, write it with the same columns as the bundled artefacts"
)


def _wrong_species(names: Sequence[str], species: str) -> tuple[int, str] | None:
    """``(n, other species)`` when most symbols look like the other species' symbols."""
    s = pd.Series(list(map(str, names)))
    if s.empty:
        return None
    mouse_like = s.str.contains(_MOUSE) & ~s.str.match(_HUMAN)
    human_like = s.str.match(_HUMAN) & ~mouse_like
    wrong = mouse_like if species == "human" else human_like
    if wrong.mean() > 0.5:
        return int(wrong.sum()), "mouse" if species == "human" else "human"
    return None


def _check_prior_species(path: PathLike, names: Sequence[str], species: str, what: str) -> None:
    wrong = _wrong_species(names, species)
    if wrong is not None:
        n, other = wrong
        raise CommstInputError(
            path,
            f"{n} of {len(names)} {what} look {other} but the sample's species is {species}",
            _PRIOR_FIX.format(species=species) + f"; or set species: {other} in the sample sheet",
        )


def read_lr_table(path: PathLike, species: str) -> pd.DataFrame:
    """Read and check an LR resource artefact (``lr_resource.tsv``).

    Parameters
    ----------
    path
        Tab-separated table with ``ligand`` and ``receptor`` columns.
    species
        The sample's species; the table's gene symbols must be of this species.

    Returns
    -------
    The table.

    Raises
    ------
    CommstInputError
        Missing or unreadable file, missing columns, no rows, or symbols of the other species.
    """
    fix = _PRIOR_FIX.format(species=species)
    path = Path(path)
    if not path.is_file():
        raise CommstInputError(path, "LR resource file does not exist", fix)
    try:
        lr = pd.read_csv(path, sep="\t")
    except Exception as err:  # noqa: BLE001 - any parser/IO error means the same to the user
        raise CommstInputError(
            path, f"cannot be read as a tab-separated LR table ({type(err).__name__}: {err})", fix
        ) from None
    _require_columns(lr, path, "lr", fix)
    lr = lr.dropna(subset=["ligand", "receptor"])
    if lr.empty:
        raise CommstInputError(path, "LR table has no ligand-receptor pairs", fix)
    genes = sorted(entity_genes(lr["ligand"]) | entity_genes(lr["receptor"]))
    _check_prior_species(path, genes, species, "LR genes")
    return lr


def _require_columns(df: pd.DataFrame, path: PathLike, kind: str, fix: str) -> None:
    missing = [c for c in _PRIOR_COLUMNS[kind] if c not in df.columns]
    if missing:
        raise CommstInputError(path, f"lacks column(s) {missing} (columns: {examples(df.columns, 8)})", fix)


def check_prior_file(path: PathLike, kind: str, species: str) -> None:
    """Check that a prior artefact is readable, complete and of the sample's species.

    Parameters
    ----------
    path
        ``lr_resource.tsv`` (``kind="lr"``), ``ppi_edges.parquet`` (``"ppi"``, parquet or TSV)
        or ``ligand_target.npz`` (``"ligand_target"``).
    kind
        Which artefact.
    species
        The sample's species.

    Raises
    ------
    CommstInputError
        Missing, unreadable or truncated file, missing columns/arrays, or gene symbols of the
        other species.
    ValueError
        Unknown ``kind``.
    """
    if kind == "lr":
        read_lr_table(path, species)
        return
    fix = _PRIOR_FIX.format(species=species)
    path = Path(path)
    if not path.is_file():
        raise CommstInputError(path, f"{kind} prior file does not exist", fix)
    if kind == "ppi":
        try:
            df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, sep="\t")
        except Exception as err:  # noqa: BLE001
            raise CommstInputError(
                path, f"cannot be read as a PPI edge table ({type(err).__name__}: {err})", fix
            ) from None
        _require_columns(df, path, "ppi", fix)
        if not pd.api.types.is_numeric_dtype(df["weight"]):
            raise CommstInputError(path, f"column 'weight' is not numeric (dtype {df['weight'].dtype})", fix)
        genes = pd.unique(pd.concat([df["gene_1"], df["gene_2"]]).astype(str))
        _check_prior_species(path, genes[:5000], species, "PPI genes")
        return
    if kind == "ligand_target":
        keys = ("data", "indices", "indptr", "shape", "targets", "ligands")
        try:
            with np.load(path, allow_pickle=False) as z:
                missing = [k for k in keys if k not in z.files]
                if missing:
                    raise CommstInputError(path, f"ligand-target matrix lacks array(s) {missing}", fix)
                names = [str(x) for x in z["ligands"]] + [str(x) for x in z["targets"][:5000]]
                sparse.csc_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
        except CommstInputError:
            raise
        except Exception as err:  # noqa: BLE001 - zip/npy/shape errors of a corrupt file
            raise CommstInputError(
                path, f"cannot be read as a ligand-target matrix (.npz; {type(err).__name__}: {err})", fix
            ) from None
        _check_prior_species(path, names, species, "ligand/target genes")
        return
    raise ValueError(f"kind must be 'lr', 'ppi' or 'ligand_target', got {kind!r}")
