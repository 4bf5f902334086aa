"""The Python API as a user meets it: ``import commst`` and its namespaces."""

from __future__ import annotations

import subprocess
import sys


def test_import_commst_exposes_the_namespaces_without_touching_the_backend():
    code = (
        "import matplotlib; before = matplotlib.get_backend(); import sys, commst; "
        "assert 'commst.pl' not in sys.modules; "
        "print(all(hasattr(commst, n) for n in ('pp', 'tl', 'pl', 'io', 'ccc', 'priors', 'validate'))); "
        "print(callable(commst.tl.get_method) and callable(commst.pl.spatial_lr_genes)); "
        "print(matplotlib.get_backend() == before)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "True"], out.stderr


def test_an_unknown_attribute_is_an_attribute_error():
    import pytest

    import commst

    with pytest.raises(AttributeError, match="has no attribute 'tools'"):
        commst.tools  # noqa: B018


def test_impute_in_one_call_equals_the_steps_of_the_workflow(demo_pair):
    import numpy as np
    import pandas as pd
    import pytest

    import commst
    from commst.priors import load_alias_map, load_lr_resource, lr_genes

    spatial = demo_pair[0][:300].copy()
    reference = demo_pair[1].copy()
    reference.obs = reference.obs.rename(columns={"cell_type": "annotation"})  # the user's own column name
    spatial_before, reference_before = spatial.copy(), reference.copy()
    imputed = commst.tl.impute(spatial, reference, method="knn", cell_type_key="annotation", params={"k": 15})
    # the inputs are left as they were
    assert (spatial.X != spatial_before.X).nnz == 0 and list(spatial.obs) == list(spatial_before.obs)
    assert list(reference.obs) == list(reference_before.obs) and reference.n_vars == reference_before.n_vars
    # the same as the workflow's steps one by one
    prepared_sp, prepared_ref = commst.pp.prepare(
        commst.io.spatial_from_anndata(spatial),
        commst.io.reference_from_anndata(reference, "annotation"),
        lr_genes(load_lr_resource("consensus", "human")),
        alias_map=load_alias_map("human"),
    )
    genes = commst.pp.get_gene_sets(prepared_sp)
    result = commst.tl.impute_knn(
        prepared_sp, prepared_ref, targets=genes.lr_targets, input_genes=genes.input, k=15, metric="cosine"
    )
    by_hand = commst.tl.build_imputed(prepared_sp, result, method="knn")
    assert list(imputed.var_names) == list(by_hand.var_names) and imputed.n_obs == by_hand.n_obs
    np.testing.assert_array_equal(imputed.X, by_hand.X)
    for layer in by_hand.layers:
        np.testing.assert_array_equal(imputed.layers[layer], by_hand.layers[layer])
    assert imputed.uns["commst"]["method"] == "knn" and '"k": 15' in imputed.uns["commst"]["config"]
    # the workflow's quality.tsv: knn's built-in held-out check, on the prepared pair, with its settings
    check = commst.tl.heldout_check("knn", prepared_sp, prepared_ref, input_genes=genes.input, params={"k": 15})
    pd.testing.assert_frame_equal(
        pd.DataFrame(commst.tl.method_info(imputed)["quality"]), check, check_like=True, check_dtype=False
    )
    assert commst.pl.quality_verdict(imputed, method="knn").startswith("knn recovers held-out measured genes")
    # a user's own column name that is not there: our message, not a KeyError
    with pytest.raises(commst.validate.CommstInputError, match="has no obs column 'celltype'"):
        commst.tl.impute(spatial, reference, cell_type_key="celltype")
    with pytest.raises(ValueError, match="unknown imputation method 'magic'"):
        commst.tl.impute(spatial, reference, method="magic", cell_type_key="annotation")


def test_the_readme_python_section_runs_as_written():
    import re
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    readme = (repo / "README.md").read_text()
    section = readme.split("## Using the package from Python", 1)[1].split("\n## ", 1)[0]
    section = section.split("### ", 1)[0]  # the subsections show other things (adding a method)
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 3
    code = "\n".join(blocks) + "\nassert imputed.n_obs == 1000 and 'imputed_counts' in imputed.layers\n"
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, env=_env())
    assert out.returncode == 0, out.stderr[-3000:]
    assert "(1000," in out.stdout
    assert "commst recovers held-out measured genes with median PCC" in out.stdout  # the pl block ran
    assert re.search(r"\(1000, \d+\) \['", out.stdout)  # copy=False wrote spots x targets into spatial


def _env():
    import os

    return {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
