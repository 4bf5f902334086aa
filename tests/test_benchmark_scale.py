"""The scale benchmark: synthetic pairs that keep the real data's statistics, the measuring
harness (ok / failed / timeout / out of memory), growth exponents, and `snakemake scale`
end to end on two tiny sizes (slow)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
import scipy.sparse as sp
import yaml
from conftest import demo_workdir, snakemake_cmd

from commst import pp
from commst._utils import save_figure
from commst.benchmark.plot import plot_scale
from commst.benchmark.scale import (
    FIT_COLUMNS,
    SCALE_COLUMNS,
    device_params,
    fit_exponent,
    fit_table,
    measure,
    scale_job,
    scale_table,
    spot_spacing,
    synthesize_pair,
    write_pair,
)
from commst.priors import load_lr_resource, lr_genes
from commst.tl import ImputationResult

REPO = Path(__file__).resolve().parents[1]


# --- test-only methods (the workflow test imports them as test_benchmark_scale:impute_*) -----------


def impute_broken(spatial, reference, *, targets, input_genes, seed=0) -> ImputationResult:
    raise RuntimeError("this method always fails")


def impute_hog(spatial, reference, *, targets, input_genes, seed=0, mb: int = 4000) -> ImputationResult:
    """Touches ``mb`` MiB of memory, 200 MiB at a time (to be killed at the memory limit)."""
    blocks = []
    for _ in range(mb // 200):
        blocks.append(np.ones(200 * 2**17))  # 200 MiB of float64, written so it is resident
        time.sleep(0.05)
    return ImputationResult(counts=np.zeros((spatial.n_obs, len(targets))), targets=list(targets))


# --- synthetic data ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prepared(demo_pair):
    spatial, reference = demo_pair
    return pp.prepare(spatial, reference, lr_genes(load_lr_resource("consensus", "human")))


def _lib(adata) -> np.ndarray:
    return np.asarray(adata.layers["counts"].sum(axis=1)).ravel()


def _zeros(adata) -> float:
    return 1.0 - adata.layers["counts"].nnz / np.prod(adata.shape)


def _share_of_ones(adata) -> float:
    return float((adata.layers["counts"].data == 1).mean())


def test_synthetic_pair_keeps_counts_types_and_spacing(prepared):
    spatial, reference = prepared
    n_spots, n_cells = 3 * spatial.n_obs, 2000
    s, r = synthesize_pair(spatial, reference, n_spots=n_spots, n_cells=n_cells, seed=0)
    assert (s.n_obs, r.n_obs) == (n_spots, n_cells)
    assert list(s.var_names) == list(spatial.var_names) and list(r.var_names) == list(reference.var_names)
    assert s.uns["commst"]["genes"] == spatial.uns["commst"]["genes"]
    assert r.uns["commst"]["genes"] == reference.uns["commst"]["genes"]
    for new, real in ((s, spatial), (r, reference)):
        for x in (new.X, new.layers["counts"]):
            assert sp.isspmatrix_csr(x) and x.dtype == np.float32
        # count distribution: library size, zeros, the share of ones among non-zeros, per-gene means
        assert _lib(new).mean() == pytest.approx(_lib(real).mean(), rel=0.03)
        assert _zeros(new) == pytest.approx(_zeros(real), abs=0.01)
        assert _share_of_ones(new) == pytest.approx(_share_of_ones(real), abs=0.02)
        gene_real = np.asarray(real.layers["counts"].mean(axis=0)).ravel()
        gene_new = np.asarray(new.layers["counts"].mean(axis=0)).ravel()
        top = np.argsort(-gene_real)[:200]
        assert np.corrcoef(gene_real[top], gene_new[top])[0, 1] > 0.99
        assert np.median(np.abs(gene_new[top] / gene_real[top] - 1)) < 0.1
        # X is the log-normalised counts, as prepare writes it
        row = new.layers["counts"][5].toarray().ravel()
        np.testing.assert_allclose(new.X[5].toarray().ravel(), np.log1p(row / row.sum() * 1e4), rtol=1e-5)
        np.testing.assert_allclose(new.obs["total_counts"], _lib(new), rtol=1e-5)
    # cell-type proportions kept (each type within one cell of its exact share)
    real_share = reference.obs["cell_type"].value_counts(normalize=True)
    new_counts = r.obs["cell_type"].value_counts()
    assert (np.abs(new_counts.reindex(real_share.index) - real_share * n_cells) <= 1).all()
    # spacing: the real nearest-neighbour distance; three whole tiles, none overlapping
    assert spot_spacing(s.obsm["spatial"]) == pytest.approx(spot_spacing(spatial.obsm["spatial"]), rel=0.05)
    assert s.obs["tile"].nunique() == 3 and s.obs_names.is_unique and r.obs_names.is_unique
    boxes = s.obsm["spatial"]
    tile = s.obs["tile"].to_numpy()
    x0 = [boxes[tile == t, 0].min() for t in range(3)]
    x1 = [boxes[tile == t, 0].max() for t in range(3)]
    y0 = [boxes[tile == t, 1].min() for t in range(3)]
    y1 = [boxes[tile == t, 1].max() for t in range(3)]
    for a in range(3):
        for b in range(a + 1, 3):
            assert x1[a] < x0[b] or x1[b] < x0[a] or y1[a] < y0[b] or y1[b] < y0[a]
    # every spot is a noisy copy of the real spot it came from: same genes detected
    src = spatial.obs_names.get_indexer(s.obs["source"].astype(str))
    a, b = s.layers["counts"][:50] > 0, spatial.layers["counts"][src[:50]] > 0
    assert (a != b).nnz == 0


def test_synthetic_pair_is_deterministic_and_partial_tiles_stay_dense(prepared):
    spatial, reference = prepared
    one = synthesize_pair(spatial, reference, n_spots=1500, n_cells=700, seed=3)
    two = synthesize_pair(spatial, reference, n_spots=1500, n_cells=700, seed=3)
    other = synthesize_pair(spatial, reference, n_spots=1500, n_cells=700, seed=4)
    for a, b, c in zip(one, two, other):
        assert (a.layers["counts"] != b.layers["counts"]).nnz == 0
        assert list(a.obs_names) == list(b.obs_names)
        assert (a.layers["counts"] != c.layers["counts"]).nnz > 0
    np.testing.assert_array_equal(one[0].obsm["spatial"], two[0].obsm["spatial"])
    # fewer spots than the slide: a patch around its centre, with the real spacing
    small, _ = synthesize_pair(spatial, reference, n_spots=300, n_cells=50, seed=0)
    assert small.n_obs == 300 and small.obs["tile"].nunique() == 1
    assert spot_spacing(small.obsm["spatial"]) == pytest.approx(spot_spacing(spatial.obsm["spatial"]), rel=0.05)


def test_synthetic_pair_round_trips_through_h5ad(prepared, tmp_path):
    import anndata as ad

    s, r = synthesize_pair(*prepared, n_spots=250, n_cells=120, seed=0)
    write_pair(s, r, tmp_path / "s.h5ad", tmp_path / "r.h5ad")
    back = ad.read_h5ad(tmp_path / "s.h5ad")
    assert list(back.uns["commst"]["genes"]["lr_targets"]) == list(s.uns["commst"]["genes"]["lr_targets"])
    assert (back.layers["counts"] != s.layers["counts"]).nnz == 0


# --- measuring -----------------------------------------------------------------------------------


def _py(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def test_measure_ok_records_time_and_peak_memory():
    rec = measure(
        _py("import time; b = b'x' * (200 << 20); time.sleep(0.5)"), time_limit_s=60, memory_limit_mb=2000, poll_s=0.05
    )
    assert rec["status"] == "ok" and rec["error"] == "" and rec["returncode"] == 0
    assert 200 <= rec["peak_rss_mb"] < 1000
    assert 0.5 <= rec["wall_s"] < 30


def test_measure_does_not_count_the_memory_of_the_measuring_process():
    """fork copies the (large) caller before exec; ru_maxrss would report that copy."""
    ballast = bytearray(800 << 20)  # the caller holds 800 MB, touched
    ballast[::4096] = b"x" * len(ballast[::4096])
    rec = measure(
        _py("import time; b = b'x' * (50 << 20); time.sleep(0.3)"), time_limit_s=60, memory_limit_mb=2000, poll_s=0.05
    )
    del ballast
    assert rec["status"] == "ok"
    assert 50 <= rec["peak_rss_mb"] < 400


def test_measure_records_a_failure_with_the_end_of_stderr():
    rec = measure(_py("print('working'); raise ValueError('boom at step 3')"), time_limit_s=60, memory_limit_mb=2000)
    assert rec["status"] == "failed" and rec["returncode"] == 1
    assert "boom at step 3" in rec["error"] and "exit status 1" in rec["error"]


def test_measure_kills_past_the_memory_limit():
    rec = measure(
        _py("import time; b = b'x' * (300 << 20); time.sleep(30)"), time_limit_s=60, memory_limit_mb=100, poll_s=0.05
    )
    assert rec["status"] == "oom" and rec["error"] == "out of memory (> 100 MB)"
    assert rec["returncode"] < 0 and rec["wall_s"] < 20 and rec["peak_rss_mb"] > 100


def test_measure_kills_the_whole_tree_past_the_time_limit(tmp_path):
    log = tmp_path / "out.log"
    code = """
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        print(child.pid, flush=True)
        time.sleep(60)
    """
    start = time.perf_counter()
    rec = measure(_py(code), time_limit_s=1.5, memory_limit_mb=2000, poll_s=0.05, log_path=log)
    assert rec["status"] == "timeout" and rec["error"] == "timeout (> 1.5 s)"
    assert time.perf_counter() - start < 15
    grandchild = int(log.read_text().split()[0])
    time.sleep(0.5)
    gone = not psutil.pid_exists(grandchild) or psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE
    assert gone, "the child's own child survived the kill"


# --- tables and exponents ------------------------------------------------------------------------


def test_fit_exponent_on_power_laws():
    sizes = np.array([1e3, 1e4, 1e5, 1e6])
    assert fit_exponent(sizes, 2.0 * sizes) == pytest.approx(1.0)
    assert fit_exponent(sizes, 3.0 * sizes**0.5) == pytest.approx(0.5)
    assert fit_exponent(sizes, 1e-6 * sizes**2) == pytest.approx(2.0)
    # failed runs (NaN) and non-positive values are left out; one size is no fit
    assert fit_exponent([1e3, 1e4, 1e5], [1.0, 10.0, np.nan]) == pytest.approx(1.0)
    assert np.isnan(fit_exponent([1e3, 1e3], [1.0, 2.0]))
    assert np.isnan(fit_exponent([], []))


def _records():
    rows = []
    for n in (1000, 10000, 100000):
        rows.append(
            {
                "method": "lin",
                "device": "cpu",
                "n_spots": n,
                "n_cells": n,
                "n_targets": 800,
                "n_inputs": 500,
                "wall_s": 1 + n / 100,
                "load_s": 0.5,
                "method_s": n / 100,
                "peak_rss_mb": n / 10,
                "status": "ok",
                "error": "",
            }
        )
        quad = {
            "method": "quad",
            "device": "cpu",
            "n_spots": n,
            "n_cells": n,
            "n_targets": 800,
            "n_inputs": 500,
            "wall_s": n**2 / 1e6,
            "load_s": 0.5,
            "method_s": n**2 / 1e6,
            "peak_rss_mb": n**2 / 1e5,
            "status": "ok",
            "error": "",
        }
        if n == 100000:
            quad.update(
                status="oom",
                error="out of memory (> 16000 MB)",
                method_s=float("nan"),
                peak_rss_mb=16001.0,
                wall_s=50.0,
            )
        rows.append(quad)
    rows.append(
        {
            "method": "bad",
            "device": "cpu",
            "n_spots": 1000,
            "n_cells": 1000,
            "n_targets": 800,
            "n_inputs": 500,
            "wall_s": 3.0,
            "peak_rss_mb": 300.0,
            "status": "failed",
            "error": "exit status 1: Traceback\nValueError: no",
        }
    )
    return rows


def test_scale_and_fit_tables_use_completed_runs_only():
    table = scale_table(_records())
    assert list(table.columns) == list(SCALE_COLUMNS) and len(table) == 7
    assert (
        "\n" not in "".join(table["error"]) and "ValueError: no" in table.loc[table["method"] == "bad", "error"].iloc[0]
    )
    fit = fit_table(table).set_index("method")
    assert list(fit.reset_index().columns) == list(FIT_COLUMNS)
    assert fit.loc["lin", "time_exponent"] == pytest.approx(1.0) and fit.loc["lin", "memory_exponent"] == pytest.approx(
        1.0
    )
    assert fit.loc["quad", "time_exponent"] == pytest.approx(2.0) and fit.loc["quad", "n_sizes"] == 2
    assert fit.loc["quad", "sizes"] == "1000,10000" and np.isnan(fit.loc["bad", "time_exponent"])


def test_time_relative_to_commst_in_the_same_run():
    records = [dict(r, method="commst") if r["method"] == "lin" else r for r in _records()]
    table = scale_table(records).set_index(["method", "n_spots"])
    ratio = table["time_vs_commst"]
    assert ratio[("quad", 1000)] == pytest.approx(0.1) and ratio[("quad", 10000)] == pytest.approx(1.0)
    assert ratio[("commst", 100000)] == pytest.approx(1.0)
    assert np.isnan(ratio[("quad", 100000)]) and np.isnan(ratio[("bad", 1000)])  # not completed: no ratio
    # without CommST in the run there is nothing to divide by
    assert scale_table(_records())["time_vs_commst"].isna().all()


def test_plot_scale_marks_failures(tmp_path):
    records = [dict(r, method="commst") if r["method"] == "lin" else r for r in _records()]
    fig = plot_scale(scale_table(records), time_limit_s=1800, memory_limit_mb=16000)
    assert [line.get_label() for line in fig.axes[2].lines].count("quad (cpu)") == 1
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "quad: OOM" in texts and "bad: failed" in texts
    save_figure(fig, tmp_path / "scale.png")
    assert (tmp_path / "scale.png").stat().st_size > 20_000


def test_device_params():
    assert device_params("commst", "cpu") == {}
    assert device_params("gimvi", "cpu") == {"accelerator": "cpu"}
    assert device_params("tangram", "cuda") == {"device": "cuda:0"}
    assert device_params("knn", "cpu") == {}
    with pytest.raises(ValueError, match="no GPU implementation"):
        device_params("knn", "cuda")
    with pytest.raises(ValueError, match="no GPU implementation"):
        device_params("commst", "cuda")  # numpy only


def test_scale_job_runs_a_method_in_a_measured_child(prepared, tmp_path, monkeypatch):
    s, r = synthesize_pair(*prepared, n_spots=300, n_cells=300, seed=0)
    write_pair(s, r, tmp_path / "s.h5ad", tmp_path / "r.h5ad")
    rec = scale_job(
        "knn",
        tmp_path / "s.h5ad",
        tmp_path / "r.h5ad",
        params={"k": 10},
        threads=1,
        time_limit_s=300,
        memory_limit_mb=8000,
        log_path=tmp_path / "knn.log",
    )
    assert rec["status"] == "ok", rec["error"]
    assert (rec["n_spots"], rec["n_cells"]) == (300, 300)
    assert rec["n_targets"] == len(s.uns["commst"]["genes"]["lr_targets"]) and rec["n_inputs"] > 400
    assert rec["output"]["shape"] == [300, rec["n_targets"]] and rec["params"] == {"k": 10}
    assert 0 < rec["method_s"] < rec["wall_s"] and rec["load_s"] > 0 and rec["peak_rss_mb"] > 50
    # a method that raises is recorded with its own message (the children import it from tests/)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]))
    bad = scale_job(
        "broken",
        tmp_path / "s.h5ad",
        tmp_path / "r.h5ad",
        extra_method="test_benchmark_scale:impute_broken",
        threads=1,
        time_limit_s=300,
        memory_limit_mb=8000,
        sizes={"n_spots": 300},
    )
    hog = scale_job(
        "hog",
        tmp_path / "s.h5ad",
        tmp_path / "r.h5ad",
        extra_method="test_benchmark_scale:impute_hog",
        params={"mb": 3000},
        threads=1,
        time_limit_s=300,
        memory_limit_mb=1000,
        sizes={"n_spots": 300},
    )
    assert bad["status"] == "failed" and "always fails" in bad["error"] and bad["n_spots"] == 300
    assert bad["load_s"] > 0 and np.isnan(bad["method_s"])
    # one that runs out of memory is killed and recorded, with what was known before
    assert hog["status"] == "oom" and hog["error"] == "out of memory (> 1000 MB)" and hog["n_spots"] == 300
    assert hog["peak_rss_mb"] > 1000 and np.isnan(hog["method_s"])


# --- the workflow --------------------------------------------------------------------------------


def test_scale_dry_run_plans_gpu_runs_only_for_gpu_methods(tmp_path):
    """cuda jobs only for methods with a GPU implementation; every measured run takes all --cores."""
    work = tmp_path / "dry"
    work.mkdir()
    (work / "samples.tsv").write_text((REPO / "config" / "samples.tsv").read_text().replace("../", f"{REPO}/"))
    config = {
        "samples": str(work / "samples.tsv"),
        "scale": {"sizes": [100, 200], "methods": ["knn", "commst", "tangram"], "devices": ["cpu", "cuda"]},
    }
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = snakemake_cmd(work, "scale", "-n", "--cores", "3")
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    runs = sorted(set(re.findall(r"results/scale/runs/(\d+)/(\w+?)_(cpu|cuda)\.json", out)))
    expected = {(n, m, d) for n in ("100", "200") for m in ("knn", "commst", "tangram") for d in ("cpu", "cuda")}
    cpu_only = {(n, m, "cuda") for n in ("100", "200") for m in ("knn", "commst")}  # numpy only
    assert set(runs) == expected - cpu_only
    blocks = [b for b in re.split(r"\n(?=\[)", out) if "rule scale_run_" in b]
    assert len(blocks) == 8 and all("threads: 3" in b for b in blocks)
    assert all(("gpu=1" in b) == ("_cuda.json" in b) for b in blocks)


@pytest.mark.slow
def test_snakemake_scale_on_two_small_sizes(tmp_path):
    work = demo_workdir(tmp_path / "scale", 300)
    config = yaml.safe_load((work / "config.yaml").read_text())
    config["scale"] = {
        "sample": "mini",
        "sizes": [200, 400],
        "methods": ["knn", "commst", "broken"],
        "extra_methods": {"broken": "test_benchmark_scale:impute_broken"},
        # two masked rounds instead of three (the model: section's other settings)
        "params": {"commst": {"mask_rounds": 2}},
        "memory_limit_mb": 4000,
        "time_limit_s": 120,
    }
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")])}
    cmd = snakemake_cmd(work, "scale", "--cores", "2")
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, check=False)
    assert result.returncode == 0, result.stderr[-5000:]
    table = pd.read_csv(work / "results/scale/scale.tsv", sep="\t", keep_default_na=False, na_values=[""])
    assert list(table.columns) == list(SCALE_COLUMNS) and len(table) == 6
    status = table.set_index(["method", "n_spots"])["status"]
    for n in (200, 400):
        assert status[("knn", n)] == "ok" and status[("commst", n)] == "ok"
        assert status[("broken", n)] == "failed"
    ok = table[table["status"] == "ok"]
    assert (ok["method_s"] > 0).all() and (ok["method_s"] < ok["wall_s"]).all() and (ok["peak_rss_mb"] > 0).all()
    assert (table["n_cells"] == table["n_spots"]).all() and (table["device"] == "cpu").all()
    assert table.loc[table["method"] == "broken", "error"].str.contains("always fails").all()
    fit = pd.read_csv(work / "results/scale/scale_fit.tsv", sep="\t").set_index("method")
    assert fit.loc["knn", "n_sizes"] == 2 and np.isfinite(fit.loc["knn", "time_exponent"])
    assert (work / "results/scale/scale.png").stat().st_size > 20_000
    # CommST ran with the model: section plus scale.params
    run = json.loads((work / "results/scale/runs/400/commst_cpu.json").read_text())
    assert run["params"]["mask_rounds"] == 2 and run["params"]["thin"] is True
