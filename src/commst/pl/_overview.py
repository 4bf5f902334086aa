"""What a run did, as tables: one overview per sample and the priors it was given."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from .._constants import Keys


def _uns_json(imputed: ad.AnnData, key: str) -> dict[str, Any]:
    raw = imputed.uns.get(Keys.uns.commst, {}).get(key, "{}")
    return json.loads(raw) if isinstance(raw, str) else dict(raw)


def run_device(imputed: ad.AnnData) -> str:
    """The device the method ran on: its device setting in the run's config, ``cpu`` for a
    method without one (the commst model and the baselines are CPU code)."""
    from ..tl.methods import REGISTRY

    method = imputed.uns.get(Keys.uns.commst, {}).get("method", "")
    meta = REGISTRY.get(method)
    if meta is None or meta.device is None:
        return "cpu"
    section: Any = _uns_json(imputed, "config")
    for part in meta.config_section.split("."):
        section = section.get(part, {}) if isinstance(section, Mapping) else {}
    value = section.get(meta.device.name, meta.defaults.get(meta.device.name, meta.device.cpu))
    return "cuda" if str(value) == meta.device.cuda else str(value)


def overview_table(
    imputed: ad.AnnData,
    *,
    reference: ad.AnnData | None = None,
    wall_s: float | None = None,
    n_warnings: int | None = None,
    sample: str | None = None,
) -> pd.DataFrame:
    """One sample's run at a glance, as rows ``quantity``, ``value``.

    Parameters
    ----------
    imputed
        Output of :func:`commst.tl.impute` / ``results/{sample}/imputed.h5ad``.
    reference
        The prepared reference (cells and cell types after QC); left out when ``None``.
    wall_s
        Wall time of the imputation in seconds (the impute job's Snakemake benchmark ``s``).
    n_warnings
        Warnings the run's steps recorded.
    sample
        Sample name, shown first.

    Returns
    -------
    Rows: sample, spots, reference cells, cell types, imputed LR targets (ligands /
    receptors), measured input genes, LR targets measured by the spatial data, share of
    guarded values, method, device, wall time, warnings (each when known).
    """
    info = imputed.uns.get(Keys.uns.commst, {})
    var = imputed.var
    rows: list[tuple[str, Any]] = []
    if sample is not None:
        rows.append(("sample", sample))
    rows.append(("spots", imputed.n_obs))
    if reference is not None:
        rows.append(("reference cells", reference.n_obs))
        rows.append(("reference cell types", reference.obs[Keys.obs.cell_type].nunique()))
    n_lig = int(var[Keys.var.is_ligand].sum()) if Keys.var.is_ligand in var else None
    n_rec = int(var[Keys.var.is_receptor].sum()) if Keys.var.is_receptor in var else None
    both = f" ({n_lig} ligands, {n_rec} receptors; a gene can be both)" if n_lig is not None else ""
    rows.append(("imputed LR targets", f"{imputed.n_vars}{both}"))
    if "n_input_genes" in info:
        rows.append(("measured input genes (shared with the reference, not LR targets)", int(info["n_input_genes"])))
    if Keys.var.measured_in_spatial in var:
        measured = int(var[Keys.var.measured_in_spatial].sum())
        rows.append(("LR targets measured / imputed", f"{measured} / {imputed.n_vars}"))
    if Keys.layers.guarded in imputed.layers:
        guarded = np.asarray(imputed.layers[Keys.layers.guarded]).astype(bool)
        rows.append(("share of values guarded (likely zero)", f"{guarded.mean():.1%}"))
    rows.append(("method", info.get("method", "?")))
    rows.append(("device", run_device(imputed)))
    if wall_s is not None:
        rows.append(("imputation wall time", f"{wall_s:.1f} s"))
    if n_warnings is not None:
        rows.append(("warnings", n_warnings))
    return pd.DataFrame(rows, columns=["quantity", "value"]).astype({"value": str})


#: How the workflow uses each prior, by the manifest's artefact name.
PRIOR_ROLES = {
    "lr": "chooses the LR targets and the pairs of the communication analysis",
    "ppi": "likelihood gene weights (model gene_weights)",
    "ligand_target": "likelihood gene weights (model gene_weights)",
}


def _size(artefact: Mapping[str, Any], n_pairs: int | None) -> str:
    kind = artefact.get("kind")
    if kind == "lr":
        return f"{n_pairs} pairs" if n_pairs is not None else ""
    if kind == "ppi":
        return (
            f"{artefact.get('n_edges')} edges, {artefact.get('n_genes')} genes (score >= {artefact.get('min_score')})"
        )
    if kind == "ligand_target":
        return (
            f"{artefact.get('n_ligands')} ligands × {artefact.get('n_targets')} targets, {artefact.get('nnz')} non-zero"
        )
    return ""


def priors_table(
    manifest: Mapping[str, Any], *, used: Mapping[str, bool] | None = None, n_pairs: int | None = None
) -> pd.DataFrame:
    """The priors of a species (``results/priors/{species}/manifest.json``) and whether the run used each.

    Parameters
    ----------
    manifest
        The priors manifest (``artefacts`` by name: ``lr``, ``ppi``, ``ligand_target``).
    used
        Artefact name → whether the imputation used it (e.g. :func:`priors_used`); unknown
        when not given.
    n_pairs
        Pairs in the LR table.

    Returns
    -------
    One row per prior: ``prior``, ``source``, ``version``, ``size``, ``sha256`` (first 12),
    ``used by this run`` (yes / no, with the role it has or would have).
    """
    rows = []
    artefacts = manifest.get("artefacts", {})
    order = [n for n in PRIOR_ROLES if n in artefacts] + sorted(set(artefacts) - set(PRIOR_ROLES))
    for name, artefact in ((n, artefacts[n]) for n in order):
        role = PRIOR_ROLES.get(name, "")
        if used is None or name not in used:
            status = f"unknown ({role})" if role else "unknown"
        elif used[name]:
            status = f"yes: {role}" if role else "yes"
        else:
            status = f"no (off by default; would give {role})" if role else "no"
        rows.append(
            {
                "prior": name,
                "source": str(artefact.get("source", "")),
                "version": str(artefact.get("version", "")),
                "size": _size(artefact, n_pairs),
                "sha256": str(artefact.get("sha256", ""))[:12],
                "used by this run": status,
            }
        )
    return pd.DataFrame(rows, columns=["prior", "source", "version", "size", "sha256", "used by this run"])


def priors_used(imputed: ad.AnnData, names: tuple[str, ...] = tuple(PRIOR_ROLES)) -> dict[str, bool]:
    """Which priors the imputation used: those its ``uns['commst']['resources']`` records.

    The LR database is always used (it defines the targets); a network prior counts as used
    when the resources name it (``ppi``/``ppi_edges``, ``ligand_target``).
    """
    resources = _uns_json(imputed, "resources")
    recorded = " ".join(resources)
    return {name: name == "lr" or name in recorded for name in names}


__all__ = ["PRIOR_ROLES", "overview_table", "priors_table", "priors_used", "run_device"]
