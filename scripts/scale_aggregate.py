"""scale.tsv and scale_fit.tsv from the measured runs (rule scale_aggregate)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  (the workflow runs without installing commst)

import json
import logging

from commst._utils import run_logged, write_table
from commst.benchmark.scale import fit_table, scale_table


def main(snakemake):
    records = []
    for path in snakemake.input.runs:
        with open(path) as handle:
            records.append(json.load(handle))
    table = scale_table(records)
    fit = fit_table(table)
    write_table(table, snakemake.output.table)
    write_table(fit, snakemake.output.fit)
    logging.getLogger("commst").info(
        "%d runs, %d completed\n%s", len(table), (table["status"] == "ok").sum(), fit.to_string(index=False)
    )


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821
