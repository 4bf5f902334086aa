"""The imputation methods on a tiny real subset (bundled STARmap split), edge cases, and the registry."""

from __future__ import annotations

import numpy as np
import pytest

from commst.benchmark.data import load_starmap, split_spatial
from commst.benchmark.heldout import prepare_pair
from commst.benchmark.metrics import gene_metrics
from commst.pp import counts_matrix, library_size, lognorm
from commst.tl.methods import BASELINES, REGISTRY, get_method

#: Tiny training schedules: these tests check wiring and signal, not final accuracy.
FAST = {
    "tangram": {"num_epochs": 100},
    "gimvi": {"max_epochs": 100, "accelerator": "cpu"},
    "hvg_ae": {"epochs": 30, "n_hvg": 100},
}
#: Median PCC over the 12 targets that each method must beat (random gives ~0).
MIN_PCC = {"knn": 0.15, "spage": 0.15, "tangram": 0.15, "hvg_ae": 0.1, "gimvi": 0.05}


@pytest.fixture(scope="module")
def pair():
    adata = load_starmap()
    ref, sp = split_spatial(adata, fraction=0.5, seed=0)
    sp, ref = prepare_pair(sp[:180].copy(), ref[:220].copy())
    totals = np.asarray(counts_matrix(sp).sum(axis=0)).ravel()
    order = np.argsort(-totals)
    genes = list(sp.var_names[order[:250]])
    targets = genes[:24:2]  # 12 well-expressed genes, spread over the abundance ranking
    inputs = [g for g in genes if g not in targets]
    sp_in = sp[:, inputs].copy()
    truth = lognorm(counts_matrix(sp[:, targets]).toarray(), library_size(sp))
    return sp_in, ref, targets, inputs, truth, library_size(sp)


def _score(result, truth, library):
    return gene_metrics(truth, lognorm(result.counts, library), genes=result.targets)


@pytest.mark.parametrize("name", ["knn", "spage", "tangram", "hvg_ae", "gimvi"])
def test_baseline_recovers_signal_on_real_subset(pair, name):
    sp_in, ref, targets, inputs, truth, lib = pair
    res = get_method(name)(sp_in, ref, targets=targets, input_genes=inputs, seed=0, **FAST.get(name, {}))
    assert res.counts.shape == (sp_in.n_obs, len(targets)) and res.targets == targets
    assert (res.counts >= 0).all()
    # expected counts live at the spot's depth: same order of magnitude as observed input counts
    depth = np.asarray(counts_matrix(sp_in).sum(axis=1)).ravel()
    ratio = res.counts.sum(axis=1).mean() / depth.mean()
    assert 0.01 < ratio < 1.0, ratio
    pcc = _score(res, truth, lib)["pcc"].median()
    # the same predicted shares shuffled over spots (each kept at its new spot's depth)
    share = res.counts / np.maximum(depth, 1)[:, None]
    shuffled = np.random.default_rng(0).permuted(share, axis=0) * depth[:, None]
    rand = _score(type(res)(counts=shuffled, targets=targets), truth, lib)["pcc"].median()
    assert pcc > MIN_PCC[name] and pcc > rand + 0.05, (name, pcc, rand)
    if res.labels is not None:
        assert len(res.labels) == sp_in.n_obs
        assert set(res.labels.astype(str)) <= set(ref.obs["cell_type"].astype(str))


def test_raw_returns_observed_or_zero(pair):
    sp_in, ref, targets, inputs, _, _ = pair
    res = get_method("raw")(sp_in, ref, targets=[inputs[0], targets[0]], input_genes=inputs)
    np.testing.assert_array_equal(res.counts[:, 0], counts_matrix(sp_in[:, [inputs[0]]]).toarray().ravel())
    assert (res.counts[:, 1] == 0).all()
    assert res.extra["measured"] == [inputs[0]]


def test_spage_weights_follow_the_paper():
    from commst.tl.methods.spage import neighbour_weights

    # distances < 1 get 1 - d / sum(d), normalised; d >= 1 is dropped; none close -> uniform
    w = neighbour_weights(np.array([[0.1, 0.3, 1.2], [1.5, 1.1, 2.0]]))
    raw = np.array([1 - 0.1 / 0.4, 1 - 0.3 / 0.4, 0.0])
    np.testing.assert_allclose(w[0], raw / raw.sum())
    np.testing.assert_allclose(w[1], 1 / 3)


def test_principal_vectors_of_identical_data_are_aligned():
    from commst.tl.methods.spage import principal_vectors

    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 12)) @ rng.normal(size=(12, 12))
    _, _, cosine = principal_vectors(x, x.copy(), 5)
    np.testing.assert_allclose(np.abs(np.diag(cosine)), 1.0, atol=1e-8)


def test_bad_genes_are_named(pair):
    sp_in, ref, targets, inputs, _, _ = pair
    with pytest.raises(ValueError, match="not in the reference"):
        get_method("spage")(sp_in, ref, targets=["NOT_A_GENE"], input_genes=inputs)
    with pytest.raises(ValueError, match="unknown imputation method 'nope'; registered methods"):
        get_method("nope")
    assert set(BASELINES) == {"raw", "knn", "spage", "tangram", "gimvi", "hvg_ae"}
    assert set(REGISTRY) == {*BASELINES, "commst"}


# ------------------------------------------------------------------------------- the registry


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_registry_entry_matches_its_function(name):
    """An entry's defaults are its function's keyword defaults (every setting but seed and
    verbosity), its env file exists, and a GPU-capable method takes its device keyword."""
    import inspect
    from pathlib import Path

    meta = REGISTRY[name]
    func = meta.function()
    params = inspect.signature(func).parameters
    assert list(params)[:2] == ["spatial", "reference"] and {"targets", "input_genes", "seed"} <= set(params)
    if meta.config_section == "model":  # commst: its settings are CommSTConfig's (test_config), as **params
        assert "config" in params
    else:
        own = {
            k: p.default
            for k, p in params.items()
            if p.kind is p.KEYWORD_ONLY and k not in ("targets", "input_genes", "seed", "verbose")
        }
        assert own == dict(meta.defaults), name
    if meta.device is not None:
        assert meta.device.name in params
    assert (Path(__file__).resolve().parents[1] / "envs" / f"{meta.env}.yaml").is_file()
    if meta.neighbours is not None:
        assert meta.neighbours in params


def test_registry_device_memory_and_lookup():
    from commst.tl.methods import BORROWED_MEMORY, get_meta, memory_model

    assert get_meta("tangram").device_kwargs("cuda") == {"device": "cuda:0"}
    assert get_meta("gimvi").device_kwargs("cuda") == {"accelerator": "gpu"}
    assert get_meta("knn").device_kwargs("cpu") == {}
    with pytest.raises(ValueError, match="'knn' has no GPU implementation"):
        get_meta("knn").device_kwargs("cuda")
    # knn and commst have measured coefficients; the others borrow knn's, and say so
    assert memory_model("knn").measured and memory_model("commst").measured
    assert memory_model("spage") == BORROWED_MEMORY and not memory_model("spage").measured
    assert memory_model("not_registered") == BORROWED_MEMORY
    kw = dict(n_spots=1000, n_cells=500, n_input=200, n_targets=300, csr_bytes=10**6)
    assert memory_model("spage").impute_bytes(**kw) == memory_model("knn").impute_bytes(**kw)
    # commst: three CSR copies, 32 B per observation x input gene and per spot x target (float32 outputs)
    assert memory_model("commst").impute_bytes(**kw) == 512 * 2**20 + 3 * 10**6 + 32 * 200 * 1500 + 32 * 300 * 1000


def test_reading_the_registry_imports_no_method():
    """The workflow reads the registry when it starts: that loads no method and no heavy library."""
    import subprocess
    import sys

    heavy = "('anndata', 'sklearn', 'torch', 'scanpy', 'tangram', 'scvi')"
    code = (
        "import sys; import commst.tl.methods as m; "
        f"print(sorted(k for k in sys.modules if k.split('.')[0] in {heavy} or k.startswith('commst.tl.methods.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "['commst.tl.methods._meta']"
