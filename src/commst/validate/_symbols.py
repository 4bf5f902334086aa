"""Checks that gene names are gene symbols of the sample's species."""

from __future__ import annotations

import re

import pandas as pd
from anndata import AnnData

from ._common import CommstInputError, PathLike, examples, shared_doc

#: Ensembl gene IDs (human ENSG, mouse ENSMUSG, other species ENS<code>G), optional version.
_ENSEMBL = re.compile(r"^ENS[A-Z]*G\d{6,}(\.\d+)?$")
#: Human symbols: upper case letters, digits, '-', '.', '_' (``C2orf74``-style open reading frames too).
_HUMAN = re.compile(r"^(?=.*[A-Z])[A-Z0-9][A-Z0-9._-]*$|^C(\d+|X|Y)orf\d+[A-Z]?$")
#: Mouse symbols: capitalised (``Cxcl12``), ``mt-`` genes, RIKEN clones (``1700001C19Rik``).
_MOUSE = re.compile(r"^[A-Z][a-z][A-Za-z0-9._-]*$|^[A-Z][0-9]+[a-z][A-Za-z0-9._-]*$|^mt-|Rik\d*$")
#: var columns that commonly hold gene symbols when var_names are IDs.
_SYMBOL_COLUMNS = (
    "gene_symbols",
    "gene_symbol",
    "symbol",
    "gene_name",
    "gene_names",
    "feature_name",
    "name",
)
#: Species accepted by :func:`check_gene_symbols`.
SPECIES = ("human", "mouse")


def _symbol_column(adata: AnnData, known: frozenset[str] | None = None) -> str | None:
    """A var column whose values look like gene symbols (known ones, when ``known`` is given)."""
    for col in _SYMBOL_COLUMNS:
        if col not in adata.var or adata.var[col].dtype.kind in "biuf":
            continue
        values = adata.var[col].astype(str)
        if known is not None:
            if values.isin(known).mean() >= 0.5:
                return col
        elif values.str.match(_ENSEMBL).mean() < 0.5:
            return col
    return None


#: Below this share of known symbols (either species, any case) the var_names are not gene symbols.
MIN_KNOWN_SYMBOLS = 0.1


def _known_symbols() -> dict[str, frozenset[str]]:
    from ..priors import known_symbols

    return {s: known_symbols(s) for s in SPECIES}


@shared_doc
def check_gene_symbols(adata: AnnData, path: PathLike, species: str) -> None:
    """Check that ``var_names`` are gene symbols of ``species``.

    Names are looked up in the bundled symbol tables of both species
    (:func:`commst.priors.known_symbols`: current symbols, aliases and orthologs, exact case):
    fewer than :data:`MIN_KNOWN_SYMBOLS` of them known in either species (ignoring case) means
    the names are not symbols at all; more than half known only in the other species means the
    sample's species is wrong.

    Parameters
    ----------
    {common}
    species
        ``"human"`` or ``"mouse"``.

    Raises
    ------
    CommstInputError
        Most var_names are Ensembl IDs or unknown names (the fix names a var column with
        symbols when there is one), or most symbols are the other species'.
    ValueError
        ``species`` is not one of :data:`SPECIES`.
    """
    if species not in SPECIES:
        raise ValueError(f"species must be one of {SPECIES}, got {species!r}")
    names = pd.Series(adata.var_names.astype(str))
    if names.empty:
        return
    ensembl = names.str.match(_ENSEMBL)
    if ensembl.mean() >= 0.5:
        mouse_ids = names[ensembl].str.startswith("ENSMUSG").mean() >= 0.5
        id_species = "mouse" if mouse_ids else "human" if names[ensembl].str.startswith("ENSG").mean() >= 0.5 else None
        problem = (
            f"{int(ensembl.sum())} of {len(names)} gene names are Ensembl IDs "
            f"(e.g. {examples(names[ensembl], 3)}), CommST needs gene symbols"
        )
        if id_species is not None and id_species != species:
            problem += f"; the IDs are {id_species} but species is {species}"
        col = _symbol_column(adata)
        if col is not None:
            fix = (
                f"use the symbols in var[{col!r}]: adata.var['gene_ids'] = adata.var_names; "
                f"adata.var_names = adata.var[{col!r}].astype(str); adata.var_names_make_unique()"
            )
        else:
            fix = (
                "map the IDs to symbols (10x features.tsv column 2, Ensembl BioMart or mygene) and "
                "store symbols as var_names, keeping the IDs in var['gene_ids']"
            )
        raise CommstInputError(path, problem, fix)
    known = _known_symbols()
    any_case = {g.upper() for symbols in known.values() for g in symbols}
    is_known = names.str.upper().isin(any_case)
    if is_known.mean() < MIN_KNOWN_SYMBOLS:
        unknown = names[~is_known]
        col = _symbol_column(adata, known[species] | known["mouse" if species == "human" else "human"])
        fix = (
            f"use the gene symbols in var[{col!r}]: adata.var['gene_ids'] = adata.var_names; "
            f"adata.var_names = adata.var[{col!r}].astype(str); adata.var_names_make_unique()"
            if col is not None
            else "use gene symbols as var_names, or name the var column that holds them "
            "(adata.var_names = adata.var['<column>'].astype(str)) and save the file again"
        )
        raise CommstInputError(
            path,
            f"{int(is_known.sum())} of {len(names)} genes are known human or mouse symbols "
            f"(e.g. {examples(unknown, 3)})",
            fix,
        )
    other = "mouse" if species == "human" else "human"
    own = names.isin(known[species])
    wrong = names.isin(known[other]) & ~own
    if wrong.mean() > 0.5:
        raise CommstInputError(
            path,
            f"{int(wrong.sum())} of {len(names)} gene symbols look {other} "
            f"(e.g. {examples(names[wrong], 4)}) but species is {species}",
            f"set species: {other} for this sample if the data are {other}, or map the genes to "
            f"{species} orthologs first",
        )
