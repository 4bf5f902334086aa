"""Benchmark figures are drawn from the benchmark tables and written atomically."""

from __future__ import annotations

import numpy as np
import pandas as pd

from commst._utils import save_figure
from commst.benchmark.data import load_starmap, thin_counts
from commst.benchmark.heldout import prepare_pair
from commst.benchmark.plot import plot_gene_metrics, plot_spatial_genes, plot_thinning


def _gene_table():
    rng = np.random.default_rng(0)
    n = 40
    return pd.DataFrame(
        {
            "method": np.repeat(["good", "bad"], n),
            "gene": np.tile([f"g{i}" for i in range(n)], 2),
            "is_lr": np.tile(np.arange(n) % 2 == 0, 2),
            "pcc": np.r_[rng.uniform(0.5, 1, n), rng.uniform(-0.1, 0.2, n)],
            "ssim": rng.uniform(0, 1, 2 * n),
            "rmse": rng.uniform(0, 2, 2 * n),
            "js": rng.uniform(0, 0.7, 2 * n),
        }
    )


def test_gene_metric_boxplots_order_methods_by_lr_pcc(tmp_path):
    fig = plot_gene_metrics(_gene_table())
    assert len(fig.axes) == 4
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["good", "bad"]
    assert fig.axes[1].get_ylabel() == "SSIM"
    out = tmp_path / "box.png"
    save_figure(fig, out)
    assert out.stat().st_size > 1000
    assert not list(tmp_path.glob(".*part*"))


def test_thinning_curves_one_panel_per_scenario():
    rows = []
    for method, slope in (("a", 1.0), ("b", 0.5)):
        for scenario in ("thinned", "removed"):
            for p in (0.5, 0.1):
                for seed in (0, 1):
                    rows.append((method, scenario, p, seed, "g", True, slope * p + 0.01 * seed))
    tab = pd.DataFrame(rows, columns=["method", "scenario", "p", "seed", "gene", "is_lr", "pcc"])
    fig = plot_thinning(tab)
    assert [ax.get_title() for ax in fig.axes[:2]] == ["LR genes thinned", "LR genes removed"]
    assert fig.axes[0].get_xscale() == "log"
    assert len(fig.axes[0].get_lines()) >= 2


def test_spatial_maps_grid_on_starmap():
    adata = load_starmap()[:200].copy()
    truth, _ = prepare_pair(adata, adata)
    thinned = thin_counts(truth, 0.1, seed=0)
    genes = list(truth.var_names[:2])
    fig = plot_spatial_genes({"truth": truth, "thinned": thinned, "empty": truth[:, 2:3].copy()}, genes)
    assert len(fig.axes) == 6
    assert fig.axes[0].get_title() == "truth" and fig.axes[0].get_ylabel() == genes[0]
    assert fig.axes[2].texts[0].get_text() == "not available"
