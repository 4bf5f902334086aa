"""Ligand–receptor databases in LIANA's format (complex subunits joined by ``_``)."""

from __future__ import annotations

import logging
from functools import lru_cache

import pandas as pd

from .._constants import COMPLEX_SEP, entity_genes, subunits
from ._genes import load_alias_map, ortholog_map
from ._paths import CommstPriorsError, check_species, read_bundled

log = logging.getLogger(__name__)

#: Resources read from the bundled tables rather than from liana.
BUNDLED_RESOURCES = {
    "cellchatdb_v2": "CellChatDB v2 (R CellChat 2, 2024-01; via pycellchat 1.5.0.post1)",
    "cellphonedb_v5": "CellPhoneDB v5.0.0 (ventolab/cellphonedb-data tag v5.0.0)",
}
#: liana resources that exist natively for mouse.
_LIANA_MOUSE = {"mouseconsensus"}


def available_resources() -> list[str]:
    """Names accepted by :func:`load_lr_resource`: liana's resources plus the bundled ones."""
    import liana as li

    return sorted(set(li.rs.show_resources()) | set(BUNDLED_RESOURCES))


def _join(subunits: list[str]) -> str:
    return "_".join(s for s in subunits if s)


def _cellchat_v2(species: str) -> pd.DataFrame:
    inter = read_bundled(f"cellchatdb_v2_interaction_{species}.tsv.gz", dtype=str, keep_default_na=False)
    cx = read_bundled(f"cellchatdb_v2_complex_{species}.tsv.gz", dtype=str, keep_default_na=False)
    sub_cols = [c for c in cx.columns if c.startswith("subunit")]
    complexes = {row["complex"]: _join([row[c] for c in sub_cols]) for _, row in cx.iterrows()}
    out = pd.DataFrame(
        {
            "ligand": [complexes.get(x, x) for x in inter["ligand"]],
            "receptor": [complexes.get(x, x) for x in inter["receptor"]],
            "pathway": inter["pathway_name"].to_numpy(),
            "annotation": inter["annotation"].to_numpy(),
        }
    )
    return out


def _cellphonedb_v5() -> pd.DataFrame:
    inter = read_bundled("cellphonedb_v5_interaction.tsv.gz", dtype=str, keep_default_na=False)
    cx = read_bundled("cellphonedb_v5_complex.tsv.gz", dtype=str, keep_default_na=False)
    gene = read_bundled("cellphonedb_v5_gene.tsv.gz", dtype=str, keep_default_na=False)
    uni2sym = gene.drop_duplicates("uniprot").set_index("uniprot")["hgnc_symbol"].to_dict()
    ucols = [c for c in cx.columns if c.startswith("uniprot")]
    complexes = {row["complex_name"]: [uni2sym.get(row[c], "") for c in ucols if row[c]] for _, row in cx.iterrows()}

    def partner(x: str) -> str:
        if x in complexes:
            subs = complexes[x]
            return _join(subs) if all(subs) else ""
        return uni2sym.get(x, "")

    out = pd.DataFrame(
        {
            "ligand": [partner(x) for x in inter["partner_a"]],
            "receptor": [partner(x) for x in inter["partner_b"]],
            "directionality": inter["directionality"].to_numpy(),
            "classification": inter["classification"].to_numpy(),
        }
    )
    missing = (out["ligand"] == "") | (out["receptor"] == "")
    if missing.any():
        log.info("cellphonedb_v5: %d interactions dropped (partner without gene symbol)", int(missing.sum()))
    return out[~missing]


def _translate(df: pd.DataFrame, source: str, target: str) -> pd.DataFrame:
    import liana as li

    n = len(df)
    out = li.rs.translate_resource(df, ortholog_map(source, target), columns=["ligand", "receptor"], one_to_many=1)
    log.info("orthologs %s -> %s: %d of %d interactions kept", source, target, len(out), n)
    return out


def _resolve_aliases(df: pd.DataFrame, species: str) -> tuple[pd.DataFrame, int]:
    amap = load_alias_map(species)
    renamed: set[str] = set()

    def fix(complex_: str) -> str:
        subs = complex_.split(COMPLEX_SEP)
        new = [amap.get(s, s) for s in subs]
        renamed.update(s for s, t in zip(subs, new) if s != t)
        return COMPLEX_SEP.join(new)

    df = df.copy()
    for col in ("ligand", "receptor"):
        df[col] = [fix(x) for x in df[col]]
    return df, len(renamed)


@lru_cache(maxsize=16)
def _load(name: str, species: str, resolve_aliases: bool) -> pd.DataFrame:
    import liana as li

    key = name.strip().lower()
    if key in BUNDLED_RESOURCES:
        if key == "cellchatdb_v2":
            df, native = _cellchat_v2(species), species
        else:
            df, native = _cellphonedb_v5(), "human"
    elif key in set(li.rs.show_resources()):
        if key == "consensus" and species == "mouse":
            key = "mouseconsensus"
        native = "mouse" if key in _LIANA_MOUSE else "human"
        df = li.rs.select_resource(key)[["ligand", "receptor"]]
    else:
        raise CommstPriorsError(
            f"LR resource {name!r} is unknown: choose one of {available_resources()} (config key priors: lr_resource)"
        )
    df = df.astype({"ligand": str, "receptor": str})
    if native != species:
        df = _translate(df, native, species)
    n_renamed = 0
    if resolve_aliases:
        df, n_renamed = _resolve_aliases(df, species)
    df = df.drop_duplicates(["ligand", "receptor"]).reset_index(drop=True)
    df.attrs.update({"resource": key, "species": species, "native_species": native, "n_aliases_renamed": n_renamed})
    log.info(
        "LR resource %s (%s): %d interactions, %d subunit symbols renamed from aliases",
        key,
        species,
        len(df),
        n_renamed,
    )
    return df


def load_lr_resource(name: str, species: str, *, resolve_aliases: bool = True) -> pd.DataFrame:
    """Load a ligand–receptor database in LIANA's format.

    Parameters
    ----------
    name
        A liana resource (``consensus``, ``mouseconsensus``, ``cellchatdb``, ``cellphonedb``,
        … see :func:`liana.rs.show_resources`), or a bundled one: ``cellchatdb_v2``
        (human and mouse) or ``cellphonedb_v5`` (human).
    species
        ``"human"`` or ``"mouse"``. A resource that exists only for the other species is
        converted through the bundled one-to-one ortholog table
        (:func:`liana.rs.translate_resource`); ``consensus`` for mouse is liana's
        ``mouseconsensus``.
    resolve_aliases
        Replace alias/previous symbols of subunits by current symbols (:func:`load_alias_map`),
        the same mapping preprocessing applies to the data.

    Returns
    -------
    pandas.DataFrame
        One row per interaction with columns ``ligand`` and ``receptor``; complexes are kept
        with subunits joined by ``_`` (e.g. ``TGFBR1_TGFBR2``); bundled resources add their
        annotation columns (``pathway``, ``annotation`` or ``directionality``,
        ``classification``). ``df.attrs`` records ``resource``, ``species``,
        ``native_species`` and ``n_aliases_renamed``.
    """
    return _load(name, check_species(species), resolve_aliases).copy()


def lr_genes(lr: pd.DataFrame) -> tuple[set[str], set[str]]:
    """Ligand and receptor subunit genes of an LR table.

    Parameters
    ----------
    lr
        Table with ``ligand`` and ``receptor`` columns (complex subunits joined by ``_``).

    Returns
    -------
    tuple of set
        ``(ligand_genes, receptor_genes)``, each complex split into its subunits.
    """
    missing = {"ligand", "receptor"} - set(lr.columns)
    if missing:
        raise CommstPriorsError(f"LR table lacks column(s) {sorted(missing)}: it needs 'ligand' and 'receptor'")

    def split(col: str) -> set[str]:
        return entity_genes(lr[col].astype(str))

    return split("ligand"), split("receptor")


def complex_subunits(lr: pd.DataFrame) -> list[list[str]]:
    """Subunit lists of every multi-subunit complex in ``lr`` (ligand or receptor side)."""
    seen: dict[str, list[str]] = {}
    for col in ("ligand", "receptor"):
        for x in lr[col].astype(str):
            if COMPLEX_SEP in x and x not in seen:
                seen[x] = subunits(x)
    return list(seen.values())
