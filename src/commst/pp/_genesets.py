"""The gene sets of a prepared pair, stored in ``uns['commst']['genes']``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import anndata as ad

from .._constants import Keys


@dataclass
class GeneSets:
    """What preprocess chose: which genes are imputed and which are matched on.

    Attributes
    ----------
    lr_targets
        LR genes the reference expresses (share of expressing cells ≥ ``min_expr_frac`` in ≥ 1
        cell type): the genes imputed.
    ligands, receptors
        The targets that are ligand / receptor subunits.
    input
        Genes measured in both datasets, minus the targets: what spots and cells are matched on.
    shared
        Genes measured in both datasets.
    harmonised_spatial, harmonised_reference
        Counts of the symbol harmonisation (``n_input``, ``renamed``, ``merged``).
    """

    lr_targets: list[str]
    ligands: list[str]
    receptors: list[str]
    input: list[str]
    shared: list[str]
    harmonised_spatial: dict[str, int] = field(default_factory=dict)
    harmonised_reference: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and dicts (as stored in ``uns`` and written to ``genes.json``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Any) -> GeneSets:
        """From the stored form (lists may come back from h5ad as arrays)."""
        known = {f.name for f in dataclasses.fields(cls)}
        data = {k: values[k] for k in known if k in values}
        for name in ("lr_targets", "ligands", "receptors", "input", "shared"):
            data[name] = [str(g) for g in data.get(name, [])]
        for name in ("harmonised_spatial", "harmonised_reference"):
            data[name] = {str(k): int(v) for k, v in dict(data.get(name, {})).items()}
        return cls(**data)


def set_gene_sets(adata: ad.AnnData, genes: GeneSets) -> None:
    """Store ``genes`` in ``adata.uns['commst']['genes']`` (other ``uns['commst']`` entries stay)."""
    adata.uns.setdefault(Keys.uns.commst, {})[Keys.uns.genes] = genes.to_dict()


def get_gene_sets(adata: ad.AnnData) -> GeneSets:
    """The gene sets preprocess stored in ``adata.uns['commst']['genes']``.

    Raises
    ------
    KeyError
        ``adata`` was not prepared by :func:`commst.pp.prepare` (no ``uns['commst']['genes']``).
    """
    try:
        stored = adata.uns[Keys.uns.commst][Keys.uns.genes]
    except KeyError:
        raise KeyError(
            "uns['commst']['genes'] is missing: these data were not prepared by commst.pp.prepare "
            "(rule preprocess writes results/{sample}/prepared/)"
        ) from None
    return GeneSets.from_dict(stored)
