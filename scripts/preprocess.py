"""Read, validate, harmonise and normalise one sample (Snakemake script)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  (the workflow runs without installing commst)


import pandas as pd

from commst._utils import run_logged, write_h5ad, write_json
from commst.io import read_reference, read_spatial
from commst.pp import prepare
from commst.priors import load_alias_map, lr_genes
from commst.validate import validate_reference, validate_spatial


def main(snakemake):
    sample = snakemake.params.sample
    options = dict(snakemake.params.preprocess)
    allow_non_counts = options.pop("allow_non_counts")
    min_cells_per_type = options.pop("min_cells_per_type")
    spatial = read_spatial(
        snakemake.input.spatial,
        sample["spatial_format"],
        bin_size=None if pd.isna(sample.get("bin_size")) else int(sample["bin_size"]),
        coords=snakemake.input.get("coords"),
    )
    reference = read_reference(snakemake.input.reference, sample["cell_type_key"])
    validate_spatial(spatial, snakemake.input.spatial, species=sample["species"], allow_non_integer=allow_non_counts)
    validate_reference(
        reference,
        snakemake.input.reference,
        species=sample["species"],
        min_cells=min_cells_per_type,
        allow_non_integer=allow_non_counts,
    )
    lr = pd.read_csv(snakemake.input.lr, sep="\t")
    spatial, reference = prepare(
        spatial,
        reference,
        lr_genes(lr),
        alias_map=load_alias_map(sample["species"]),
        **options,
    )
    write_h5ad(spatial, snakemake.output.spatial)
    write_h5ad(reference, snakemake.output.reference)
    write_json(spatial.uns["commst"]["genes"], snakemake.output.genes)


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821
