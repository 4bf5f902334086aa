"""Write manifest.json of one species' prior artefacts (Snakemake script)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  (the workflow runs without installing commst)

from commst._utils import run_logged
from commst.priors import write_manifest


def main(snakemake):
    inp = snakemake.input
    write_manifest(
        {"lr": inp.lr, "ppi": inp.ppi, "ligand_target": inp.ligand_target},
        snakemake.output[0],
        meta={"lr": {"source": snakemake.params.lr_resource, "rule": "lr_resource"}},
        extra={
            "species": snakemake.wildcards.species,
            "source": snakemake.params.priors["source"],
            "config": snakemake.params.priors,
        },
    )


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821
