"""Write the LR database of one species as a table (Snakemake script)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  (the workflow runs without installing commst)


from commst._utils import run_logged, write_table
from commst.priors import load_lr_resource


def main(snakemake):
    lr = load_lr_resource(snakemake.params.name, snakemake.wildcards.species)
    write_table(lr, snakemake.output[0])


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821
