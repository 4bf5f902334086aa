"""Gene symbol harmonisation: alias → current symbol and human ↔ mouse orthologs."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from functools import lru_cache

import pandas as pd

from ._paths import check_species, read_bundled

log = logging.getLogger(__name__)


def _case(symbol: str, species: str) -> str:
    """Species case convention of CommST: human upper case, mouse capitalised."""
    return symbol.upper() if species == "human" else symbol[:1].upper() + symbol[1:]


@lru_cache(maxsize=2)
def _alias_table(species: str) -> pd.DataFrame:
    """The bundled alias table of ``species`` (columns ``alias``, ``symbol``)."""
    return read_bundled(f"aliases_{species}.tsv.gz", dtype=str, keep_default_na=False)


@lru_cache(maxsize=4)
def _alias_map(species: str) -> tuple[tuple[str, str], ...]:
    df = _alias_table(species)
    current = set(df["symbol"])
    rows: dict[str, set[str]] = {}
    for alias, symbol in zip(df["alias"], df["symbol"]):
        for key in {alias, _case(alias, species)}:
            rows.setdefault(key, set()).add(symbol)
    current_cased = current | {_case(s, species) for s in current}
    out = []
    for key, symbols in rows.items():
        if len(symbols) != 1 or key in current_cased:
            continue  # ambiguous alias, or alias that is itself a current symbol
        (symbol,) = symbols
        if symbol != key:
            out.append((key, symbol))
    return tuple(out)


def load_alias_map(species: str) -> dict[str, str]:
    """Alias or previous gene symbol → current symbol, from the bundled NCBI-derived tables.

    Parameters
    ----------
    species
        ``"human"`` or ``"mouse"``.

    Returns
    -------
    dict
        Maps an alias to its current symbol. Only unambiguous aliases are kept: an alias
        that names several current genes, or that is itself a current symbol, is left out
        (identities are not listed). Keys appear both as written in NCBI gene info and in the
        CommST case convention (human upper case, mouse first letter upper case).

    Notes
    -----
    Source: nichenetr ``geneinfo_alias_{human,mouse}`` (NCBI gene_info), see
    ``resources/priors/README.md``.
    """
    return dict(_alias_map(check_species(species)))


@lru_cache(maxsize=2)
def known_symbols(species: str) -> frozenset[str]:
    """Every gene symbol of ``species`` the bundled tables know: current symbols, aliases, orthologs.

    Used to tell gene symbols from other names (``GENE0``, probe ids) and one species' symbols
    from the other's, before any guess from letter case.

    Parameters
    ----------
    species
        ``"human"`` or ``"mouse"``.

    Returns
    -------
    frozenset
        Symbols as written in NCBI gene info (:func:`load_alias_map`'s source) and in the
        ortholog table (:func:`load_orthologs`), exact case.
    """
    aliases = _alias_table(check_species(species))
    return frozenset(aliases["alias"]) | frozenset(aliases["symbol"]) | frozenset(load_orthologs()[species])


def harmonise_symbols(
    genes: Iterable[str], species: str, *, alias_map: Mapping[str, str] | None = None
) -> tuple[list[str], int]:
    """Map gene symbols to current symbols with :func:`load_alias_map`.

    Returns the mapped list (same length and order) and the number of symbols renamed.
    """
    amap = load_alias_map(species) if alias_map is None else alias_map
    genes = [str(g) for g in genes]
    out = [amap.get(g, g) for g in genes]
    return out, sum(a != b for a, b in zip(genes, out))


@lru_cache(maxsize=2)
def load_orthologs() -> pd.DataFrame:
    """Human ↔ mouse ortholog table with columns ``human``, ``mouse``, ``source``.

    nichenetr ``geneinfo_human`` (as used by nichenetr's ``convert_human_to_mouse_symbols``),
    completed with SpaCET one-to-one orthologs for genes it lacks.
    """
    return read_bundled("orthologs_human_mouse.tsv.gz", dtype=str, keep_default_na=False)


def ortholog_map(source: str, target: str) -> pd.DataFrame:
    """Two-column ``source``/``target`` mapping in the layout :func:`liana.rs.translate_resource` expects."""
    source, target = check_species(source), check_species(target)
    df = load_orthologs()[[source, target]].drop_duplicates()
    df.columns = ["source", "target"]
    return df.reset_index(drop=True)
