"""The benchmark rules end to end on a tiny sample, with a method known to be perfect and one random.

Snakemake runs ``benchmark`` on 240 cells of the bundled STARmap data (LR-pair genes and the
120 most expressed genes) split into
a reference half and a spatial half. Two test-only methods are registered through the config
key ``benchmark.extra_methods`` (they live in this module, put on the jobs' ``PYTHONPATH``):
``oracle`` returns the spatial truth (so it must score perfectly) and ``noise`` returns random
counts (so it must score near zero). A third, ``broken``, always raises: it must be recorded as
failed without stopping the benchmark. Adding a method afterwards must run only its jobs.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import snakemake_cmd

from commst.benchmark.data import load_starmap, split_spatial
from commst.benchmark.summary import headline_table, summary_rows
from commst.pp import counts_matrix
from commst.priors import load_lr_resource
from commst.tl import ImputationResult

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


# --- test-only methods (imported by the Snakemake jobs as test_benchmark_workflow:impute_*) ---------


def impute_oracle(
    spatial, reference, *, targets: Sequence[str], input_genes: Sequence[str], seed: int = 0, truth: str = ""
) -> ImputationResult:
    """The unthinned truth of each target (the prepared spatial data), scaled to the depth of the data it is given."""
    full = ad.read_h5ad(truth)
    full = full[spatial.obs_names]
    inputs = [g for g in input_genes if g in spatial.var_names]
    given = np.asarray(counts_matrix(spatial[:, inputs]).sum(axis=1)).ravel()
    total = np.asarray(counts_matrix(full[:, inputs]).sum(axis=1)).ravel()
    scale = np.divide(given, total, out=np.ones_like(given), where=total > 0)
    counts = counts_matrix(full[:, list(targets)]).toarray() * scale[:, None]
    return ImputationResult(counts=counts, targets=list(targets))


def impute_noise(
    spatial, reference, *, targets: Sequence[str], input_genes: Sequence[str], seed: int = 0
) -> ImputationResult:
    """Random counts unrelated to the truth."""
    rng = np.random.default_rng(seed + 1000)
    return ImputationResult(
        counts=rng.poisson(1.0, size=(spatial.n_obs, len(targets))).astype(float), targets=list(targets)
    )


def impute_broken(spatial, reference, *, targets, input_genes, seed=0) -> ImputationResult:
    raise RuntimeError("this method always fails")


# --- the run -------------------------------------------------------------------------------------


def _snakemake(work: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")])}
    cmd = snakemake_cmd(work, "benchmark", "--cores", "2", *args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)


def _config(work: Path, methods: list[str]) -> None:
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["samples"] = str(work / "samples.tsv")
    config["ccc"]["n_perms"] = 20
    config["preprocess"]["min_counts_cell"] = 10
    config["preprocess"]["min_shared_genes"] = 20
    config["preprocess"]["min_cells_per_type"] = 1
    config["benchmark"] = {
        "samples": ["tiny"],
        "methods": methods,
        "extra_methods": {
            "oracle": "test_benchmark_workflow:impute_oracle",
            "noise": "test_benchmark_workflow:impute_noise",
            "broken": "test_benchmark_workflow:impute_broken",
        },
        "params": {"oracle": {"truth": str(work / "results/tiny/prepared/spatial.h5ad")}},
        "heldout": {"n_folds": 3, "splits": 1, "lr_mask": True},
        "thinning": {"p": [0.5, 0.1], "seeds": [0], "scenarios": ["thinned", "removed"]},
        "ccc": {"p": [0.5], "seeds": [0], "nulls": ["spots", "uncertainty_labels"], "top_k": 10},
        "plot": {"n_genes": 2},
    }
    (work / "config.yaml").write_text(yaml.safe_dump(config))


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("bench")
    data = load_starmap()
    rng = np.random.default_rng(0)
    cells = rng.choice(data.n_obs, 240, replace=False)
    # the genes of complete LR pairs plus the 120 most expressed genes: LR targets, inputs and decoys all exist
    lr = load_lr_resource("consensus", "mouse")
    names = set(data.var_names)
    pairs = lr[lr["ligand"].isin(names) & lr["receptor"].isin(names)]
    top = data.var_names[np.argsort(-np.asarray(data.X.sum(axis=0)).ravel())[:120]]
    genes = [g for g in data.var_names if g in set(top) | set(pairs["ligand"]) | set(pairs["receptor"])]
    data = data[np.sort(cells)][:, genes].copy()
    reference, spatial = split_spatial(data, fraction=0.5, seed=0)
    reference.write_h5ad(work / "reference.h5ad")
    spatial.write_h5ad(work / "spatial.h5ad")
    (work / "samples.tsv").write_text(
        "sample\treference\tspatial\tspatial_format\tspecies\tcell_type_key\n"
        "tiny\treference.h5ad\tspatial.h5ad\th5ad\tmouse\tcell_type\n"
    )
    _config(work, ["oracle", "noise", "broken"])
    result = _snakemake(work)
    assert result.returncode == 0, result.stderr[-5000:]
    return work


def _read(work: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(work / "results/benchmark" / name, sep="\t", keep_default_na=True)


def test_gene_metrics_table_separates_perfect_from_random(bench_run):
    tab = _read(bench_run, "tiny/gene_metrics.tsv")
    assert list(tab.columns[:9]) == ["method", "scenario", "fold", "gene", "is_lr", "pcc", "ssim", "rmse", "js"]
    assert set(tab["method"]) == {"oracle", "noise", "broken"}
    assert set(tab["fold"][tab["status"] == "ok"]) == {0, 1, 2}
    oracle = tab[(tab["method"] == "oracle")]
    assert (oracle["status"] == "ok").all()
    # the oracle returns the truth: PCC 1, SSIM 1, RMSE 0, JS 0 wherever the gene varies
    varying = oracle.dropna(subset=["pcc"])
    assert len(varying) > 50 and varying["is_lr"].any() and (~varying["is_lr"]).any()
    np.testing.assert_allclose(varying["pcc"], 1.0, atol=1e-5)
    np.testing.assert_allclose(varying["ssim"], 1.0, atol=1e-5)
    np.testing.assert_allclose(varying["rmse"], 0.0, atol=1e-5)
    np.testing.assert_allclose(varying["js"], 0.0, atol=1e-5)
    noise = tab[tab["method"] == "noise"]
    assert abs(noise["pcc"].median()) < 0.15
    assert noise["rmse"].median() > 0.5


def test_failing_method_is_recorded_not_fatal(bench_run):
    for name in ("tiny/gene_metrics.tsv", "tiny/thinning.tsv", "tiny/ccc_recovery.tsv"):
        tab = _read(bench_run, name)
        broken = tab[tab["method"] == "broken"]
        assert len(broken) > 0 and (broken["status"] == "failed").all(), name
        assert broken["error"].str.contains("always fails").all(), name
        assert (tab.loc[tab["method"] == "oracle", "status"] == "ok").all(), name


def test_thinning_oracle_beats_raw_noise(bench_run):
    tab = _read(bench_run, "tiny/thinning.tsv")
    assert set(tab["scenario"]) == {"thinned", "removed"} and set(tab["p"]) == {0.5, 0.1}
    ok = tab[tab["status"] == "ok"]
    med = ok.groupby(["method", "scenario", "p"])["pcc"].median()
    for scenario in ("thinned", "removed"):
        for p in (0.5, 0.1):
            assert med[("oracle", scenario, p)] > 0.95
            assert abs(med[("noise", scenario, p)]) < 0.15


def test_ccc_recovery_and_summary(bench_run):
    ccc = _read(bench_run, "tiny/ccc_recovery.tsv")
    # metrics that do not depend on the null (those that do are per null, below)
    ok = ccc[(ccc["status"] == "ok") & ccc["null"].isna()].set_index(["method", "analysis", "metric"])["value"]
    # LIANA on the oracle's output reproduces the truth's spatial scores
    assert ok[("oracle", "bivariate", "spearman")] > 0.95
    assert ok[("oracle", "bivariate", "spearman")] > ok[("noise", "bivariate", "spearman")] + 0.3
    assert ok[("oracle", "rank_aggregate", "spearman")] > 0.9
    assert ("truth", "reference_agreement", "spearman") in ok.index
    assert ok[("oracle", "bivariate", "n_pairs")] >= 1
    calls = ccc[(ccc["status"] == "ok") & (ccc["analysis"] == "bivariate")].set_index(["method", "null", "metric"])[
        "value"
    ]
    # the oracle returns the truth's counts: under the same null it calls decoys no more often than
    # the truth; under the spot null (no redraws) it makes the truth's calls
    for null in ("spots", "uncertainty_labels"):
        assert calls[("oracle", null, "cross_decoy_fpr")] <= calls[("truth", null, "cross_decoy_fpr")] + 0.05
    assert calls[("truth", "spots", "n_truth_significant")] > 0 and calls[("oracle", "spots", "recall")] >= 0.8
    summary = _read(bench_run, "summary.tsv")
    assert list(summary.columns) == ["sample", "method", "scenario", "metric", "value"]
    lr_pcc = summary[(summary["scenario"] == "heldout") & (summary["metric"] == "LR_median_pcc")].set_index("method")[
        "value"
    ]
    assert lr_pcc["oracle"] > 0.99 and abs(lr_pcc["noise"]) < 0.15
    # paired CIs (LR genes): the oracle above the noise method on both scenarios, the CI excluding 0
    paired = _read(bench_run, "tiny/paired_ci.tsv")
    assert set(paired["scenario"]) == {"heldout", "lrmask"}
    oracle = paired[(paired["method"] == "oracle") & (paired["scale"] == "counts")].set_index("scenario")
    assert (oracle["median_pcc"] > 0.99).all()
    # peers are the registered baselines; the test-only methods have none here, so compare directly
    gm = _read(bench_run, "tiny/gene_metrics.tsv")
    masked = gm[(gm["scenario"] == "lrmask") & (gm["method"] == "oracle")]
    assert len(masked) > 0 and masked["is_lr"].all()
    headline = headline_table(summary, p=0.1)
    assert headline.loc[("tiny", "oracle"), "heldout_LR_pcc"] > 0.99
    for fig in ("gene_metrics.png", "thinning.png", "spatial_maps.png"):
        assert (bench_run / "results/benchmark/tiny/figures" / fig).stat().st_size > 10_000


def test_adding_a_method_runs_only_its_jobs(bench_run):
    _config(bench_run, ["oracle", "noise", "broken", "raw"])
    dry = _snakemake(bench_run, "-n", "--quiet", "rules")
    assert dry.returncode == 0, dry.stderr[-3000:]
    out = dry.stdout + dry.stderr
    jobs = dict(
        (line.split()[0], int(line.split()[1]))
        for line in out.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    )
    assert jobs.get("benchmark_heldout_model") == 1 and jobs.get("benchmark_thinning_model") == 1
    assert jobs.get("benchmark_ccc_model") == 1
    assert "benchmark_ccc_truth" not in jobs and "preprocess" not in jobs
    _config(bench_run, ["oracle", "noise", "broken"])


def test_summary_rows_on_hand_made_tables():
    gm = pd.DataFrame(
        {
            "method": ["a", "a", "b", "b"],
            "scenario": "heldout",
            "fold": 0,
            "gene": ["g1", "g2", "g1", "g2"],
            "is_lr": [True, False, True, False],
            "pcc": [0.9, 0.5, 0.1, 0.3],
            "ssim": 0.5,
            "rmse": 1.0,
            "js": 0.1,
            "status": "ok",
            "error": "",
        }
    )
    th = gm.drop(columns=["fold"]).assign(scenario="thinned", p=0.1, seed=0)
    cc = pd.DataFrame(
        {
            "method": ["a"],
            "scenario": ["thinned"],
            "p": [0.1],
            "seed": [0],
            "analysis": ["bivariate"],
            "null": [""],
            "metric": ["spearman"],
            "value": [0.7],
            "status": ["ok"],
            "error": [""],
        }
    )
    rows = summary_rows("s", gm, th, cc)
    get = rows.set_index(["method", "scenario", "metric"])["value"]
    assert get[("a", "heldout", "LR_median_pcc")] == pytest.approx(0.9)
    assert get[("b", "heldout", "non-LR_median_pcc")] == pytest.approx(0.3)
    assert get[("a", "thinned_p0.1", "LR_median_pcc")] == pytest.approx(0.9)
    assert get[("a", "ccc_thinned_p0.1", "bivariate_spearman")] == pytest.approx(0.7)
    # accuracy score: a beats b on PCC for LR genes
    assert get[("a", "heldout", "LR_accuracy_score")] > get[("b", "heldout", "LR_accuracy_score")]
    assert (rows["sample"] == "s").all()
