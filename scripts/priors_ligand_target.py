"""Build (offline) or convert (official .rds) the ligand -> target matrix of one species (Snakemake script)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  (the workflow runs without installing commst)

from commst._utils import run_logged
from commst.priors import write_ligand_target_artefact
from commst.priors.download import verify_file


def main(snakemake):
    p = snakemake.params
    for key, sha256 in p.sha256.items():  # source: download; a cached file must still match the config
        verify_file(snakemake.input[key], sha256, p.url)
    write_ligand_target_artefact(
        snakemake.wildcards.species,
        snakemake.output.matrix,
        source=p.source,
        rds=snakemake.input.get("rds"),
        url=p.url,
        lr_resource=p.lr_resource,
        params=dict(p.builder),
    )


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821
