"""One measured scale run: one method, one size, one device (rules scale_run_*).

The method runs in a child process (python -m commst.benchmark.scale run) under a time and
memory limit; running out of either is recorded in the output, so the job itself succeeds.
"""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  (the workflow runs without installing commst)

import json
import logging

from commst._utils import run_logged, write_json
from commst.benchmark.scale import scale_job


def main(snakemake):
    log = logging.getLogger("commst")
    limits = snakemake.params.limits
    with open(snakemake.input.meta) as handle:
        sizes = {k: v for k, v in json.load(handle).items() if k.startswith("n_")}
    method, device = snakemake.wildcards.scale_method, snakemake.wildcards.device
    log.info(
        "%s on %s with %d threads, limits %s, params %s",
        method,
        device,
        snakemake.threads,
        limits,
        snakemake.params.method_params,
    )
    record = scale_job(
        method,
        snakemake.input.spatial,
        snakemake.input.reference,
        device=device,
        params=snakemake.params.method_params,
        extra_method=snakemake.params.extra_method or None,
        seed=snakemake.params.seed,
        threads=snakemake.threads,
        time_limit_s=limits["time_limit_s"],
        memory_limit_mb=limits["memory_limit_mb"],
        poll_s=limits["poll_s"],
        sizes=sizes,
        log_path=snakemake.log.method,
    )
    level = logging.INFO if record["status"] == "ok" else logging.WARNING
    log.log(
        level,
        "%s %s: %s %s, wall %.1f s, method %s s, peak %.0f MB (recorded; the method's output is in %s)",
        method,
        device,
        record["status"],
        record.get("error", ""),
        record["wall_s"],
        record.get("method_s"),
        record["peak_rss_mb"],
        snakemake.log.method,
    )
    write_json(record, snakemake.output[0])


run_logged(snakemake.log.harness, main, snakemake)  # noqa: F821
