"""The demo workflow through a real SLURM (``--executor slurm`` with profiles/slurm) equals a local run.

Needs a SLURM controller: ``bash tests/slurm/start.sh`` starts a private single-node cluster and
``bash tests/slurm/stop.sh`` stops it. Without one the tests are skipped, unless
``COMMST_REQUIRE_SLURM=1`` (set by .ci/run), which turns the skip into a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from conftest import demo_workdir, snakemake_cmd

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slurm

#: The only settings this one-node test cluster needs on top of the shipped profile: no slurmdbd, so
#: job states come from squeue (its MinJobAge is 300 s); SLURM logs of successful jobs are kept so
#: the test can see every rule's job.
CLUSTER_OVERRIDES = ["--slurm-status-command", "squeue", "--slurm-keep-successful-logs"]


def _slurm_env() -> dict[str, str]:
    env = dict(os.environ)
    # The profile reads the GPU partition from the environment; this cluster has one partition.
    env.setdefault("COMMST_GPU_PARTITION", "debug")
    env["OMP_NUM_THREADS"] = "1"
    return env


def _slurm_up(env: dict[str, str]) -> str | None:
    """None when a SLURM controller answers with an idle/mixed node, else why not."""
    if shutil.which("sinfo") is None:
        return "sinfo not installed"
    try:
        result = subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 15 s"
    states = set(result.stdout.split())
    if result.returncode != 0 or not states & {"idle", "mix", "alloc"}:
        return f"no usable SLURM node (sinfo rc={result.returncode}: {(result.stdout + result.stderr).strip()[:200]})"
    return None


@pytest.fixture(scope="module")
def slurm_env() -> dict[str, str]:
    env = _slurm_env()
    why = _slurm_up(env)
    if why:
        message = f"no SLURM controller ({why}); start one with `bash tests/slurm/start.sh`"
        if os.environ.get("COMMST_REQUIRE_SLURM") == "1":
            pytest.fail(f"COMMST_REQUIRE_SLURM=1 but {message}")
        pytest.skip(message)
    return env


def _snakemake(work: Path, *extra: str, env: dict[str, str], timeout: int) -> subprocess.CompletedProcess:
    cmd = snakemake_cmd(work, *extra)
    result = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=timeout)
    (work / "snakemake.log").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, f"{' '.join(cmd)}\n{result.stderr[-6000:]}"
    return result


@pytest.fixture(scope="module")
def runs(slurm_env, tmp_path_factory):
    """The same input run locally and through SLURM with the project's profile."""
    base = tmp_path_factory.mktemp("slurm")
    local, cluster = base / "local", base / "cluster"
    demo_workdir(local, 150)
    demo_workdir(cluster, 150)
    _snakemake(local, "--cores", "2", env=slurm_env, timeout=900)
    result = _snakemake(
        cluster,
        "--workflow-profile",
        str(REPO / "profiles/slurm"),
        *CLUSTER_OVERRIDES,
        "--verbose",
        env=slurm_env,
        timeout=900,
    )
    return local, cluster, result.stdout + result.stderr


def _job_stats(log: str) -> dict[str, int]:
    """Rule -> job count from Snakemake's 'Job stats' table."""
    table = log.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return {
        m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, flags=re.M) if m.group(1) != "total"
    }


def test_every_rule_ran_as_a_slurm_job(runs):
    local, cluster, log = runs
    stats = _job_stats(log)
    assert stats == _job_stats((local / "snakemake.log").read_text())
    rules = set(stats) - {"all"}
    assert {"lr_resource", "preprocess", "impute", "ccc_spatial", "ccc_reference", "report_figures"} <= rules
    submitted = re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: (\S+)\)", log)
    assert len(submitted) == sum(stats[r] for r in rules)
    logdir = cluster / ".snakemake/slurm_logs"
    for rule in rules:
        logs = list((logdir / f"rule_{rule}").rglob("*.log"))
        assert len(logs) == stats[rule], f"rule {rule}: SLURM logs {logs}"
        for path in logs:
            assert path.stem in {jobid for jobid, _ in submitted}
            text = path.read_text()
            # the job step ran the rule inside the SLURM allocation
            assert f"rule {rule}:" in text or f"localrule {rule}:" in text, text[-2000:]
            assert "1 of 1 steps (100%) done" in text, text[-2000:]


def test_sbatch_requests_follow_the_rules_resources(runs):
    _, _, log = runs
    calls = {}
    for line in log.splitlines():
        if "sbatch call:" in line:
            rule = re.search(r"--comment '?rule_(\w+?)(?:_wildcards_\S+?)?'? ", line).group(1)
            calls[rule] = line.split("sbatch call:", 1)[1].split(" --wrap=")[0].strip()
    assert "impute" in calls and "preprocess" in calls
    impute = calls["impute"]
    assert "--cpus-per-task=2" in impute and " -t 60" in impute and re.search(r"--mem \d+", impute)
    assert "--cpus-per-task=1" in calls["preprocess"]
    assert all("--gpus" not in call for call in calls.values()), "no GPU request from a CPU rule"
    assert " --mem 2000 " in calls["lr_resource"] and " -t 10 " in calls["lr_resource"]


def test_outputs_equal_a_local_run(runs):
    local, cluster, _ = runs
    a = ad.read_h5ad(local / "results/mini/commst/imputed.h5ad")
    b = ad.read_h5ad(cluster / "results/mini/commst/imputed.h5ad")
    assert a.n_obs > 100 and a.n_vars > 20
    assert list(a.obs_names) == list(b.obs_names) and list(a.var_names) == list(b.var_names)
    assert np.asarray(a.X).tobytes() == np.asarray(b.X).tobytes()
    for layer in a.layers:
        np.testing.assert_array_equal(np.asarray(a.layers[layer]), np.asarray(b.layers[layer]))
    assert json.loads((local / "results/mini/prepared/genes.json").read_text()) == json.loads(
        (cluster / "results/mini/prepared/genes.json").read_text()
    )
    tables = [
        "results/priors/human/lr_resource.tsv",
        "results/mini/commst/ccc/bivariate.tsv",
        "results/mini/commst/ccc/rank_aggregate.tsv",
        "results/mini/ccc/reference_rank_aggregate.tsv",
    ]
    for name in tables:
        pd.testing.assert_frame_equal(pd.read_csv(local / name, sep="\t"), pd.read_csv(cluster / name, sep="\t"))
