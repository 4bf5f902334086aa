"""Per-species prior artefacts (LR table, PPI edges, ligand → target matrix) and their manifest."""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from commst._utils import write_json

from ._genes import load_alias_map
from ._ligand_target import LigandTargetMatrix, read_nichenet_rds
from ._lr import BUNDLED_RESOURCES, load_lr_resource, lr_genes
from ._nichenet import build_ligand_target
from ._paths import CommstPriorsError, bundled_dir, check_species
from ._ppi import string_edges, write_table
from .download import sha256sum

log = logging.getLogger(__name__)

#: Environment variable that overrides where built artefacts are looked up and cached.
ENV_ARTEFACTS = "COMMST_PRIORS_DIR"
ARTEFACT_NAMES = {"lr": "lr.tsv.gz", "ppi": "ppi_edges.parquet", "ligand_target": "ligand_target.npz"}


def artefact_dir(species: str, root: str | os.PathLike | None = None) -> Path:
    """Folder of one species' built artefacts: ``<root>/<species>``.

    ``root`` defaults to ``$COMMST_PRIORS_DIR`` or ``resources/priors`` of the repository.
    """
    base = Path(root) if root is not None else Path(os.environ.get(ENV_ARTEFACTS, bundled_dir().parent))
    return base / check_species(species)


def _sidecar(dest: Path, meta: Mapping[str, Any]) -> None:
    meta = {
        **meta,
        "file": dest.name,
        "sha256": sha256sum(dest),
        "bytes": dest.stat().st_size,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    write_json(meta, dest.with_name(dest.name + ".json"))


def write_lr_artefact(species: str, resource: str, dest: str | os.PathLike) -> pd.DataFrame:
    """Write the LR table of ``resource`` for ``species`` (gzip TSV) plus a ``.json`` sidecar."""
    dest = Path(dest)
    lr = load_lr_resource(resource, species)
    write_table(lr, dest)
    ligands, receptors = lr_genes(lr)
    version = BUNDLED_RESOURCES.get(resource, "liana " + __import__("liana").__version__ + " resource")
    _sidecar(
        dest,
        {
            "kind": "lr",
            "source": resource,
            "version": version,
            **lr.attrs,
            "n_interactions": len(lr),
            "n_ligand_genes": len(ligands),
            "n_receptor_genes": len(receptors),
        },
    )
    return lr


def write_ppi_artefact(
    species: str,
    dest: str | os.PathLike,
    *,
    min_score: float = 0.7,
    source: str = "bundled",
    links: str | os.PathLike | None = None,
    info: str | os.PathLike | None = None,
    url: str | None = None,
    version: str = "12.0",
    genes: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Write STRING edges (``gene_1``, ``gene_2``, ``weight``) as parquet plus a ``.json`` sidecar.

    ``genes`` restricts the edges to those genes (e.g. the sample's measured genes).
    """
    dest = Path(dest)
    edges = string_edges(species, min_score=min_score, source=source, links=links, info=info)
    if genes is not None:
        keep = set(genes)
        edges = edges[edges["gene_1"].isin(keep) & edges["gene_2"].isin(keep)].reset_index(drop=True)
    write_table(edges, dest)
    meta: dict[str, Any] = {
        "kind": "ppi",
        "source": f"STRING v{version} ({source})",
        "version": version,
        "min_score": min_score,
        "n_edges": len(edges),
        "n_genes": len(set(edges["gene_1"]) | set(edges["gene_2"])),
    }
    if source == "download":
        meta.update({"url": url, "input_sha256": {"links": sha256sum(links), "info": sha256sum(info)}})
    else:
        meta.update(
            {
                "bundled_file": "string_v12_human_ntm.tsv.gz",
                "note": "text-mining channel excluded; mouse via one-to-one orthologs",
            }
        )
    _sidecar(dest, meta)
    return edges


def _harmonise_matrix(m: LigandTargetMatrix, species: str) -> LigandTargetMatrix:
    amap = load_alias_map(species)

    def fix(names: list[str]) -> tuple[list[str], list[int]]:
        seen: dict[str, int] = {}
        for i, g in enumerate(names):
            seen.setdefault(amap.get(g, g), i)
        return list(seen), list(seen.values())

    targets, ti = fix(m.targets)
    ligands, li = fix(m.ligands)
    return LigandTargetMatrix(m.matrix[ti][:, li].tocsc(), targets, ligands, m.meta)


def write_ligand_target_artefact(
    species: str,
    dest: str | os.PathLike,
    *,
    source: str = "bundled",
    rds: str | os.PathLike | None = None,
    url: str | None = None,
    lr_resource: str = "consensus",
    params: Mapping[str, Any] | None = None,
    source_weights: Mapping[str, float] | None = None,
    verbose: bool = False,
) -> LigandTargetMatrix:
    """Write the ligand → target matrix (``.npz``, targets × ligands) plus a ``.json`` sidecar.

    ``source="bundled"`` builds it offline (:func:`build_ligand_target`) for every ligand of
    ``lr_resource``; ``source="download"`` converts the official NicheNet ``rds`` (symbols
    alias-resolved).
    """
    species = check_species(species)
    dest = Path(dest)
    if source == "download":
        if rds is None:
            raise CommstPriorsError(
                "source='download' needs the downloaded NicheNet .rds (priors: nichenet: <species>: url)"
            )
        m = _harmonise_matrix(read_nichenet_rds(rds), species)
        m.meta.update(
            {
                "source": "NicheNet v2 official ligand_target_matrix (Zenodo 7074291)",
                "url": url,
                "input_sha256": sha256sum(rds),
                "version": "v2",
            }
        )
    elif source == "bundled":
        m = build_ligand_target(
            species, lr_name=lr_resource, params=params, source_weights=source_weights, verbose=verbose
        )
        m.meta["version"] = "offline NicheNet-style (nichenetr v1 lr_network + OmniPath + DoRothEA)"
    else:
        raise CommstPriorsError(f"priors source {source!r} is unknown: use 'bundled' or 'download'")
    m.meta.update(
        {
            "kind": "ligand_target",
            "n_targets": len(m.targets),
            "n_ligands": len(m.ligands),
            "nnz": int(m.matrix.nnz),
        }
    )
    m.save(dest)
    _sidecar(dest, m.meta)
    return m


def write_manifest(
    artefacts: Mapping[str, str | os.PathLike],
    dest: str | os.PathLike,
    *,
    meta: Mapping[str, Mapping[str, Any]] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``manifest.json``: source, version, URL, checksums, parameters and date of each artefact.

    Parameters
    ----------
    artefacts
        ``kind → path`` (e.g. ``lr``, ``ppi``, ``ligand_target``). The ``<path>.json`` sidecar
        written with the artefact is used when present; otherwise file name, size and SHA-256
        are computed here and completed with ``meta[kind]``.
    dest
        Manifest path.
    meta
        Extra metadata per kind (overrides sidecar keys).
    extra
        Top-level fields (species, source, ...).
    """
    from commst import __version__

    entries = {}
    for kind, a in artefacts.items():
        path = Path(a)
        if not path.is_file():
            raise CommstPriorsError(f"prior artefact {path} is missing: rebuild it with its priors rule")
        side = Path(str(path) + ".json")
        entry = json.loads(side.read_text()) if side.is_file() else {"file": path.name, "bytes": path.stat().st_size}
        entry.update({"kind": kind, "sha256": sha256sum(path), **dict((meta or {}).get(kind, {}))})
        entries[kind] = entry
    manifest = {
        "commst_version": __version__,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **dict(extra or {}),
        "artefacts": entries,
    }
    write_json(manifest, Path(dest))
    return manifest


def build_priors(
    species: str,
    outdir: str | os.PathLike | None = None,
    *,
    lr_resource: str = "consensus",
    min_score: float = 0.7,
    params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build all offline artefacts of one species into ``outdir`` (default :func:`artefact_dir`)."""
    out = artefact_dir(species, None) if outdir is None else Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {k: out / ARTEFACT_NAMES[k] for k in ("lr", "ppi", "ligand_target")}
    write_lr_artefact(species, lr_resource, paths["lr"])
    write_ppi_artefact(species, paths["ppi"], min_score=min_score)
    write_ligand_target_artefact(species, paths["ligand_target"], lr_resource=lr_resource, params=params)
    return write_manifest(paths, out / "manifest.json", extra={"species": check_species(species), "source": "bundled"})


def load_ligand_target(
    species: str, *, path: str | os.PathLike | None = None, build: bool = True
) -> LigandTargetMatrix:
    """Sparse ligand → target matrix of ``species``.

    ``path``: an ``.npz`` artefact (``priors_ligand_target`` rule) or an official NicheNet
    ``.rds``. Without ``path``, the cached artefact in :func:`artefact_dir` is read, or, when
    absent and ``build`` is true, built offline with default parameters and cached there.
    """
    species = check_species(species)
    if path is not None:
        path = Path(path)
        if path.suffix == ".rds":
            return _harmonise_matrix(read_nichenet_rds(path), species)
        return LigandTargetMatrix.load(path)
    cached = artefact_dir(species) / ARTEFACT_NAMES["ligand_target"]
    if cached.is_file():
        return LigandTargetMatrix.load(cached)
    if not build:
        raise CommstPriorsError(f"{cached} does not exist: run the workflow's priors rules or pass build=True")
    log.info("no ligand-target artefact at %s: building it offline (about a minute)", cached)
    cached.parent.mkdir(parents=True, exist_ok=True)
    return write_ligand_target_artefact(species, cached)


def ligand_target_matrix(
    species: str,
    *,
    ligands: Sequence[str] | None = None,
    targets: Sequence[str] | None = None,
    path: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Ligand → target regulatory potential as a dense DataFrame (targets × ligands, NicheNet orientation).

    Parameters
    ----------
    species
        ``"human"`` or ``"mouse"``.
    ligands, targets
        Column and row genes to return, in this order; genes the prior does not cover get
        all-zero columns/rows. ``None`` = all (about 9,000 × 1,100 for the offline prior).
    path
        Artefact (``.npz``) or official NicheNet ``.rds``; see :func:`load_ligand_target`.

    Returns
    -------
    pandas.DataFrame
        float32 scores ≥ 0 (not normalised across ligands: compare within a ligand column,
        as NicheNet does). For the sparse form use :func:`load_ligand_target`.
    """
    return load_ligand_target(species, path=path).to_frame(ligands=ligands, targets=targets)
