"""Read, validate, harmonise and normalise one sample (Snakemake script)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  (the workflow runs without installing commst)


import pandas as pd

from commst._utils import collect_warnings, run_logged, write_h5ad, write_json, write_warnings
from commst.io import read_reference, read_spatial
from commst.pp import get_gene_sets, prepare
from commst.priors import load_alias_map, lr_genes
from commst.validate import (
    check_neighbours,
    memory_limit,
    neighbour_setting,
    preflight_memory,
    read_lr_table,
    validate_reference,
    validate_spatial,
)


def main(snakemake):
    with collect_warnings() as warnings:
        prepare_sample(snakemake)
    write_warnings(warnings, snakemake.output.warnings, step="preprocess")


def check_settings(snakemake):
    """What the checks read from the config rather than from params: the memory limit, the
    methods whose memory is estimated (the primary and those compared: each impute job runs one)
    and the primary's neighbours per spot. None of them changes the outputs, so a change of them
    must not rerun the job (a param would)."""
    config = getattr(snakemake, "config", {}) or {}
    impute = config.get("impute", {})
    return {
        "max_memory_gb": config.get("preprocess", {}).get("max_memory_gb"),
        "methods": list(dict.fromkeys([impute.get("method", "knn"), *impute.get("compare", [])])),
        "neighbours": neighbour_setting(config),
    }


def prepare_sample(snakemake):
    sample = snakemake.params.sample
    options = dict(snakemake.params.preprocess)
    allow_non_counts = options.pop("allow_non_counts")
    options.pop("max_memory_gb", None)
    checks = check_settings(snakemake)
    species = sample["species"]
    lr = read_lr_table(snakemake.input.lr, species)
    ligands, receptors = lr_genes(lr)
    memory = {
        "spatial_format": sample["spatial_format"],
        "limit": memory_limit(checks["max_memory_gb"], getattr(snakemake.resources, "mem_mb", None)),
        "lr_genes": ligands | receptors,
    }
    # before reading when the files can be peeked at (h5ad), else right after reading
    checked = all(
        [
            preflight_memory(snakemake.input.spatial, snakemake.input.reference, method=m, **memory)
            for m in checks["methods"]
        ]
    )
    spatial = read_spatial(
        snakemake.input.spatial,
        sample["spatial_format"],
        bin_size=None if pd.isna(sample.get("bin_size")) else int(sample["bin_size"]),
        coords=snakemake.input.get("coords"),
    )
    reference = read_reference(snakemake.input.reference, sample["cell_type_key"])
    if not checked:
        for method in checks["methods"]:
            preflight_memory(
                snakemake.input.spatial,
                snakemake.input.reference,
                spatial=spatial,
                reference=reference,
                method=method,
                **memory,
            )
    validate_spatial(spatial, snakemake.input.spatial, species=species, allow_non_integer=allow_non_counts)
    validate_reference(reference, snakemake.input.reference, species=species, allow_non_integer=allow_non_counts)
    spatial, reference = prepare(
        spatial,
        reference,
        (ligands, receptors),
        alias_map=load_alias_map(species),
        **options,
    )
    k, key = checks["neighbours"]
    if k is not None:  # checked again by the impute job, where a changed k does not rerun this one
        check_neighbours(k, reference.n_obs, key=key, path=snakemake.input.reference)
    write_h5ad(spatial, snakemake.output.spatial)
    write_h5ad(reference, snakemake.output.reference)
    write_json(get_gene_sets(spatial).to_dict(), snakemake.output.genes)


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821
