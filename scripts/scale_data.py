"""A synthetic pair of one size for the scale benchmark, from a real prepared pair (rule scale_data)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  (the workflow runs without installing commst)

import logging

import anndata as ad

from commst._constants import Keys
from commst._utils import run_logged, write_json
from commst.benchmark.scale import pair_summary, synthesize_pair, write_pair


def main(snakemake):
    log = logging.getLogger("commst")
    spatial = ad.read_h5ad(snakemake.input.spatial)
    reference = ad.read_h5ad(snakemake.input.reference)
    n_spots, n_cells = int(snakemake.wildcards.n_spots), int(snakemake.params.n_cells)
    log.info(
        "synthesising %d spots and %d reference cells from %d spots and %d cells",
        n_spots,
        n_cells,
        spatial.n_obs,
        reference.n_obs,
    )
    new_spatial, new_reference = synthesize_pair(
        spatial, reference, n_spots=n_spots, n_cells=n_cells, seed=snakemake.params.seed
    )
    write_pair(new_spatial, new_reference, snakemake.output.spatial, snakemake.output.reference)
    meta = {
        **pair_summary(new_spatial, new_reference),
        "source": snakemake.params.sample,
        "synthesis": new_spatial.uns[Keys.uns.scale],
    }
    write_json(meta, snakemake.output.meta)
    log.info("wrote %s", meta)


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821
