"""The model's nearest-cell search (:mod:`commst.model._search`): exact answers, clustered recall, chunking."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from commst.model import CommSTConfig, impute_commst
from commst.model._search import NeighbourIndex, top_k
from commst.model._space import matching_space
from commst.pp import counts_matrix, prepare
from commst.priors import load_alias_map, load_lr_resource, lr_genes


def test_top_k_equals_a_full_sort_with_ties_broken_by_column():
    rng = np.random.default_rng(0)
    sim = rng.integers(0, 6, size=(40, 30)).astype(np.float32)  # many ties
    cols, vals = top_k(sim, 7)
    order = np.lexsort((np.tile(np.arange(30), (40, 1)), -sim), axis=1)[:, :7]
    np.testing.assert_array_equal(cols, order)
    np.testing.assert_array_equal(vals, np.take_along_axis(sim, order, 1))
    full, _ = top_k(sim, 30)
    np.testing.assert_array_equal(np.sort(full, 1), np.tile(np.arange(30), (40, 1)))
    smooth = rng.standard_normal((40, 30)).astype(np.float32)  # no ties: the fast path
    cols, vals = top_k(smooth, 7)
    np.testing.assert_array_equal(cols, np.argsort(-smooth, axis=1, kind="stable")[:, :7])
    np.testing.assert_array_equal(vals, -np.sort(-smooth, axis=1)[:, :7])


@pytest.fixture(scope="module")
def prepared(demo_pair):
    """400 spots of the bundled lymph-node pair and its reference, prepared: (spatial, reference, targets, inputs)."""
    spatial, reference = demo_pair
    spatial = spatial[np.random.default_rng(0).choice(spatial.n_obs, 400, replace=False)].copy()
    spatial, reference = prepare(spatial, reference, lr_genes(load_lr_resource("consensus", "human")),
                                 alias_map=load_alias_map("human"))  # fmt: skip
    genes = spatial.uns["commst"]["genes"]
    return spatial, reference, list(genes["lr_targets"]), list(genes["input"])


@pytest.fixture(scope="module")
def demo_space(prepared):
    """The prepared pair's matching space and the reference's cell-type codes."""
    spatial, reference, _, inputs = prepared
    sp_in = counts_matrix(spatial[:, inputs]).astype(np.float64).tocsr()
    ref_in = counts_matrix(reference[:, inputs]).astype(np.float64).tocsr()
    space = matching_space(sp_in, ref_in, n_pv=None, min_cosine=0.3, thin=True, rng=np.random.default_rng(0))
    codes = np.unique(reference.obs["cell_type"].astype(str).to_numpy(), return_inverse=True)[1]
    return space, codes


def _brute(spots, cells, k):
    nn = NearestNeighbors(n_neighbors=min(k, cells.shape[0]), metric="cosine", algorithm="brute").fit(cells)
    return nn.kneighbors(spots)


def test_exact_search_equals_brute_force_per_type_and_overall(demo_space):
    space, codes = demo_space
    n_types = codes.max() + 1
    nb = NeighbourIndex(space.cells, codes, n_types, 50, method="exact").query(space.spots)
    for t in range(n_types):
        members = np.flatnonzero(codes == t)
        _, idx = _brute(space.spots, space.cells[members], 50)
        got = nb.of_type(t, 50)
        same = np.mean([len(set(a) & set(b)) / len(a) for a, b in zip(members[idx], got)])
        assert same > 0.999  # float32 vs sklearn's float64 order may swap a near tie
    dist, idx = _brute(space.spots, space.cells, 50)
    d_got, i_got = nb.nearest(50)
    assert np.mean([len(set(a) & set(b)) / 50 for a, b in zip(idx, i_got)]) > 0.999
    np.testing.assert_allclose(d_got, dist, atol=1e-5)


def test_clustered_search_recovers_most_exact_neighbours(demo_space):
    """Every 30-cell type forced into 6 k-means clusters, 3 probed: recall of the 5 exact nearest (measured 0.80)."""
    space, codes = demo_space
    n_types = codes.max() + 1
    exact = NeighbourIndex(space.cells, codes, n_types, 5, method="exact").query(space.spots)
    approx = NeighbourIndex(
        space.cells, codes, n_types, 5, method="clustered", exact_type_cells=0, cluster_cells=5, n_probe=3
    )
    assert all(c is not None and c[0].shape[0] >= 6 for c in approx.clusters)  # really clustered, half probed
    got = approx.query(space.spots)
    pairs = [(a, b) for t in range(n_types) for a, b in zip(exact.of_type(t, 5), got.of_type(t, 5))]
    recall = np.mean([len(set(a) & set(b)) / len(a) for a, b in pairs])
    assert recall > 0.7, recall
    # what is found is never closer than the truth: the similarities are those of real cells
    assert (got.sim <= exact.sim + 1e-5).all()


def test_auto_is_exact_on_small_data_and_clustered_on_large():
    cells = np.eye(3, dtype=np.float32)[np.arange(3000) % 3]
    codes = np.zeros(3000, int)
    assert NeighbourIndex(cells, codes, 1, 5, n_spots=10).method == "exact"
    assert NeighbourIndex(cells, codes, 1, 5, n_spots=10**6).method == "clustered"


def test_prediction_in_chunks_equals_one_chunk(prepared):
    spatial, reference, targets, inputs = prepared
    kw = {"targets": targets[:40], "input_genes": inputs, "seed": 0, "quality_baseline": False}
    one = impute_commst(spatial, reference, config=CommSTConfig(mask_rounds=1), **kw)
    many = impute_commst(spatial, reference, config=CommSTConfig(mask_rounds=1, predict_chunk=97, chunk=31), **kw)
    np.testing.assert_allclose(many.counts, one.counts, rtol=1e-5, atol=1e-6)
    for key, value in one.layers.items():
        np.testing.assert_allclose(many.layers[key], value, rtol=1e-5, atol=1e-6)
    assert (many.labels == one.labels).all()
