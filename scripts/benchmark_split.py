"""Split one spatial dataset with cell types into a prepared reference half and spatial half (rule benchmark_split)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  (the workflow runs without installing commst)

import anndata as ad
import pandas as pd

from commst._constants import Keys
from commst._errors import CommstInputError
from commst._utils import run_logged, write_h5ad
from commst.benchmark.data import get_counts, split_spatial
from commst.pp import DEFAULTS, prepare
from commst.priors import load_alias_map, lr_genes


def main(snakemake):
    split = dict(snakemake.params.split)
    path = snakemake.input.spatial
    data = ad.read_h5ad(path)
    key = split.get("cell_type_key", Keys.obs.cell_type)
    if key not in data.obs or Keys.obsm.spatial not in data.obsm:
        raise CommstInputError(
            path,
            f"a benchmark split needs cell types in obs[{key!r}] and coordinates in obsm['spatial']",
            "set benchmark.splits.<name>.cell_type_key to the cell-type column, or add the coordinates",
        )
    data.layers[Keys.layers.counts] = get_counts(data, name=path).copy()
    reference, spatial = split_spatial(
        data, cell_type_key=key, fraction=split.get("fraction", 0.5), seed=split.get("seed", 0)
    )
    options = {k: v for k, v in snakemake.params.preprocess.items() if k in DEFAULTS}  # prepare()'s options
    lr = pd.read_csv(snakemake.input.lr, sep="\t")
    truth_types = spatial.obs[Keys.obs.cell_type].copy()
    spatial, reference = prepare(
        spatial, reference, lr_genes(lr), alias_map=load_alias_map(split["species"]), **options
    )
    spatial.obs[Keys.obs.cell_type] = truth_types.reindex(spatial.obs_names).astype("category")
    write_h5ad(spatial, snakemake.output.spatial)
    write_h5ad(reference, snakemake.output.reference)


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821
