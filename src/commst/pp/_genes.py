"""Gene symbol harmonisation: done once, in preprocess, for reference and spatial data alike."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._constants import Keys

logger = logging.getLogger(__name__)

_ENSEMBL_VERSION = re.compile(r"^(ENS[A-Z]*G\d+)\.\d+$")


def harmonise_genes(
    adata: ad.AnnData,
    alias_map: Mapping[str, str] | None = None,
) -> ad.AnnData:
    """Map gene names to current symbols and merge duplicates.

    Names are stripped of whitespace and Ensembl version suffixes; a name that is an alias
    or previous symbol (a key of ``alias_map``) becomes its current symbol. Genes that end
    up with the same symbol are merged by summing their counts (``X`` must hold counts).

    Parameters
    ----------
    adata
        Cells/spots × genes with raw counts in ``X``.
    alias_map
        Alias or previous symbol → current symbol (see :func:`commst.priors.load_alias_map`).

    Returns
    -------
    A new AnnData (merging changes the number of genes, so this is never in place). Sets
    ``adata.var['original_symbol']`` (comma-separated when merged) and
    ``adata.uns['commst_genes_harmonised']`` with counts of renamed and merged genes.
    """
    alias_map = alias_map or {}
    original = pd.Index(adata.var_names.astype(str))
    cleaned = original.str.strip().map(lambda g: _ENSEMBL_VERSION.sub(r"\1", g))
    present = set(cleaned)
    # A name that is itself a current symbol in the data is never renamed.
    new = pd.Index([alias_map[g] if g in alias_map and alias_map[g] not in present else g for g in cleaned])
    renamed = int((new != cleaned).sum())

    X = adata.X if sp.issparse(adata.X) else sp.csr_matrix(adata.X)
    codes, uniques = pd.factorize(new)
    n_merged = len(new) - len(uniques)
    if n_merged:
        merge = sp.csr_matrix(
            (np.ones(len(codes), dtype=X.dtype), (np.arange(len(codes)), codes)),
            shape=(len(codes), len(uniques)),
        )
        X = (sp.csr_matrix(X) @ merge).tocsr()
    var = pd.DataFrame(index=pd.Index(uniques, name=None))
    var["original_symbol"] = (
        pd.Series(original, index=new).groupby(level=0, sort=False).agg(",".join).reindex(uniques).values
    )
    out = ad.AnnData(
        X=sp.csr_matrix(X, dtype=np.float32), obs=adata.obs.copy(), var=var, obsm=dict(adata.obsm), uns=dict(adata.uns)
    )
    out.uns[Keys.uns.genes_harmonised] = {"n_input": len(original), "renamed": renamed, "merged": n_merged}
    if renamed or n_merged:
        logger.info("harmonised gene symbols: %d renamed, %d merged into existing symbols", renamed, n_merged)
    return out
