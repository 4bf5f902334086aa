"""Download official prior files (STRING, NicheNet) with checksum check (Snakemake script)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  (the workflow runs without installing commst)

from commst._utils import run_logged
from commst.priors.download import fetch


def main(snakemake):
    opts = snakemake.params.download
    for key, dest in snakemake.output.items():
        fetch(
            snakemake.params.urls[key],
            dest,
            sha256=snakemake.params.sha256[key],
            retries=opts["retries"],
            timeout=opts["timeout"],
            max_bytes=int(opts["max_mb"] * 2**20),
        )


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821
