"""Write the STRING PPI edges of one species (Snakemake script)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  (the workflow runs without installing commst)

from commst._utils import run_logged
from commst.priors import write_ppi_artefact
from commst.priors.download import verify_file


def main(snakemake):
    p = snakemake.params
    for key, sha256 in p.sha256.items():  # source: download; a cached file must still match the config
        verify_file(snakemake.input[key], sha256, p.url)
    write_ppi_artefact(
        snakemake.wildcards.species,
        snakemake.output.edges,
        min_score=p.min_score,
        source=p.source,
        links=snakemake.input.get("links"),
        info=snakemake.input.get("info"),
        url=p.url,
        version=str(p.version),
    )


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821
