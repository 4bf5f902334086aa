"""Cell–cell communication with LIANA+: spatial bivariate scores and cell-type-level methods.

Every LIANA call goes through :func:`liana_errors`: a failure becomes a
:class:`CommstCCCError` naming the sample, the step, the problem and the fix (LIANA's own
messages can list a thousand genes; they are cut). Data that leave nothing to score (no LR
pair with all its genes measured, fewer than two groups with ``min_cells`` observations) give
an empty table with LIANA's columns and a warning, not an error.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from collections.abc import Iterator

import anndata as ad
import liana as li
import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

from ._constants import Keys, subunits
from ._errors import CommstInputError

logger = logging.getLogger(__name__)

#: Shown in place of a long bracketed list (e.g. LIANA's "[GENE1, GENE2, ...] missing").
_LIST = re.compile(r"\[[^\]]{80,}\]")
#: Longest third-party message quoted in an error.
_MAX_MESSAGE = 300
#: Above this share of spots without a spatial neighbour, the kernel is wrong for the data.
MAX_ISOLATED_SPOTS = 0.5


class CommstCCCError(RuntimeError):
    """A communication step failed; the message names the sample, the step, the problem and the fix."""

    def __init__(self, sample: str | None, step: str, problem: str, fix: str) -> None:
        self.sample, self.step = sample, step
        self.problem, self.fix = problem.rstrip(". "), fix.rstrip(". ")
        where = f"sample {sample!r}, step {step}" if sample else f"step {step}"
        super().__init__(f"{where}: {self.problem}. Fix: {self.fix}.")

    def __reduce__(self) -> tuple[type, tuple[str | None, str, str, str]]:
        return (type(self), (self.sample, self.step, self.problem, self.fix))


def _short(message: str) -> str:
    """A third-party message fit to quote: first line, long lists cut, at most 300 characters."""
    first = str(message).strip().splitlines()[0] if str(message).strip() else ""
    first = _LIST.sub("[…]", first).rstrip(". ")
    return first if len(first) <= _MAX_MESSAGE else first[: _MAX_MESSAGE - 1] + "…"


@contextlib.contextmanager
def liana_errors(step: str, *, sample: str | None = None) -> Iterator[None]:
    """Turn any exception of the block (a LIANA call) into a :class:`CommstCCCError`."""
    try:
        yield
    except (CommstCCCError, CommstInputError):
        raise
    except Exception as err:  # noqa: BLE001 - a third-party failure, whatever its type
        raise CommstCCCError(
            sample,
            step,
            f"LIANA failed ({type(err).__name__}: {_short(str(err))})",
            "check this step's input file (delete it to have the workflow rebuild it), the LR resource "
            "(lr_resource: name) and the ccc: settings; if they are right, report this message with the log",
        ) from None


def usable_pairs(resource: pd.DataFrame, genes: pd.Index | list[str]) -> pd.DataFrame:
    """The LR pairs whose ligand and receptor subunits (``_``-joined complexes) are all in ``genes``."""
    present = set(map(str, genes))

    def complete(entities: pd.Series) -> np.ndarray:
        return np.array([all(g in present for g in subunits(e)) for e in entities], dtype=bool)

    keep = complete(resource["ligand"]) & complete(resource["receptor"])
    return resource[keep].reset_index(drop=True)


def _probe(n_groups: int = 2) -> tuple[ad.AnnData, pd.DataFrame]:
    """A tiny dataset LIANA can score: two genes, groups of 10 observations on a grid."""
    rng = np.random.default_rng(0)
    n = 10 * n_groups
    counts = rng.poisson(4.0, size=(n, 2)).astype(np.float32) + 1
    adata = ad.AnnData(
        np.log1p(counts),
        obs=pd.DataFrame({"group": pd.Categorical(np.repeat([f"g{i}" for i in range(n_groups)], 10))},
                         index=[f"o{i}" for i in range(n)]),
        var=pd.DataFrame(index=["PROBEL", "PROBER"]),
    )
    adata.obsm[Keys.obsm.spatial] = np.column_stack([np.arange(n) % 5, np.arange(n) // 5]).astype(float)
    return adata, pd.DataFrame({"ligand": ["PROBEL"], "receptor": ["PROBER"]})


@functools.cache
def _celltype_columns(method: str) -> tuple[str, ...]:
    """The columns LIANA's ``method`` returns (learnt from a tiny run, so they match the version)."""
    adata, resource = _probe()
    return tuple(_run_celltype(adata, resource, groupby="group", method=method, expr_prop=0.0, min_cells=1, n_perms=2, seed=0).columns)


@functools.cache
def _bivariate_columns(local_name: str, global_name: str) -> tuple[str, ...]:
    adata, resource = _probe()
    li.ut.spatial_neighbors(adata, bandwidth=1.5, cutoff=0.1, max_neighbours=adata.n_obs - 1)
    _, table = _bivariate_table(adata, resource, bandwidth=1.5, local_name=local_name, global_name=global_name,
                                n_perms=2, seed=0)
    return tuple(table.columns)


#: Cell-type-level methods of LIANA+ (``li.mt.<name>``) selectable in the config.
CELLTYPE_METHODS = (
    "rank_aggregate",
    "cellphonedb",
    "cellchat",
    "connectome",
    "natmi",
    "logfc",
    "singlecellsignalr",
    "geometric_mean",
    "scseqcomm",
)


def auto_bandwidth(adata: ad.AnnData, *, spatial_key: str = Keys.obsm.spatial) -> float:
    """Median distance from each spot to its nearest other spot.

    With LIANA's Gaussian kernel and the default cutoff of 0.1, this bandwidth connects a
    spot to neighbours up to about two spot spacings away, whatever the coordinate units.
    """
    coords = np.asarray(adata.obsm[spatial_key], dtype=float)
    dist, _ = NearestNeighbors(n_neighbors=2).fit(coords).kneighbors(coords)
    return float(np.median(dist[:, 1]))


def check_neighbourhood(
    adata: ad.AnnData, *, bandwidth: float, cutoff: float, configured: bool, path: str | None = None
) -> int:
    """Count spots the spatial kernel leaves without a neighbour (``obsp['spatial_connectivities']``).

    Returns
    -------
    The number of such spots (a warning names it when there are any).

    Raises
    ------
    CommstInputError
        More than :data:`MAX_ISOLATED_SPOTS` of the spots have no neighbour: the bandwidth does
        not fit the coordinates' units (the message gives the spot spacing to use instead).
    """
    conn = adata.obsp["spatial_connectivities"]
    isolated = int((np.asarray((conn > 0).sum(axis=1)).ravel() == 0).sum())
    if not isolated:
        return 0
    spacing = auto_bandwidth(adata)
    source = "ccc.bandwidth" if configured else "the automatic bandwidth (median nearest-spot distance)"
    if isolated > MAX_ISOLATED_SPOTS * adata.n_obs:
        raise CommstInputError(
            path or "spatial data",
            f"{source} = {bandwidth:.4g} with ccc.cutoff = {cutoff:g} leaves {isolated} of {adata.n_obs} spots "
            f"without a spatial neighbour (median nearest-spot distance {spacing:.4g} in the coordinates' units)",
            f"set ccc.bandwidth to about {spacing:.4g} (it is in coordinate units, e.g. pixels or µm) or to "
            "null for the automatic choice, or lower ccc.cutoff",
        )
    logger.warning(
        "%s: %s = %.4g with ccc.cutoff = %g leaves %d of %d spots without a spatial neighbour; their "
        "local scores are 0",
        path or "spatial data", source, bandwidth, cutoff, isolated, adata.n_obs,
    )
    return isolated


def _bivariate_table(
    adata: ad.AnnData,
    resource: pd.DataFrame,
    *,
    bandwidth: float,
    local_name: str,
    global_name: str,
    n_perms: int,
    seed: int,
) -> tuple[ad.AnnData, pd.DataFrame]:
    """LIANA's bivariate scores as CommST's long table, over the graph in ``obsp`` (no checks)."""
    local = li.mt.bivariate(
        adata,
        resource=resource,
        local_name=local_name,
        global_name=global_name,
        n_perms=n_perms,
        seed=seed,
        use_raw=False,
        verbose=False,
    )
    table = local.var.rename(columns={global_name: "global_score", f"{global_name}_pvals": "pvalue"})
    table = table.rename_axis("interaction").reset_index()
    table["global_metric"] = global_name
    table["bandwidth"] = bandwidth
    first = ["interaction", "ligand", "receptor", "global_metric", "global_score", "pvalue"]
    table = table[first + [c for c in table.columns if c not in first]]
    return local, table.sort_values("global_score", ascending=False, kind="stable").reset_index(drop=True)


def spatial_bivariate(
    adata: ad.AnnData,
    resource: pd.DataFrame,
    *,
    bandwidth: float | None = None,
    cutoff: float = 0.1,
    local_name: str = "cosine",
    global_name: str = "morans",
    n_perms: int = 100,
    seed: int = 0,
    sample: str | None = None,
    path: str | None = None,
) -> tuple[ad.AnnData | None, pd.DataFrame]:
    """LIANA+ bivariate ligand–receptor scores over spatial neighbours.

    Parameters
    ----------
    adata
        Spots × genes with log-normalised ``X`` and ``obsm['spatial']``. The spatial
        neighbour graph is written to ``obsp['spatial_connectivities']``.
    resource
        LR table with ``ligand`` and ``receptor`` columns (complexes ``_``-joined).
    bandwidth
        Gaussian kernel bandwidth in coordinate units; ``None`` uses :func:`auto_bandwidth`.
    cutoff
        Kernel weights below this are dropped.
    local_name, global_name
        LIANA local and global metrics.
    n_perms
        Permutations for p-values.
    seed
        Permutation seed.
    sample, path
        Named in warnings and errors.

    Returns
    -------
    ``(local_scores, table)``: the spots × interactions AnnData of local scores and a long
    table, one row per LR pair, with ``ligand``, ``receptor``, ``global_score``,
    ``pvalue`` and the ligand/receptor means and expressing shares, sorted by score. With no
    LR pair to score (none with all genes measured, or none expressed in enough spots) the
    table is empty, with the same columns, ``local_scores`` is ``None`` and a warning says why.

    Raises
    ------
    CommstInputError
        The bandwidth leaves most spots without a neighbour (:func:`check_neighbourhood`).
    CommstCCCError
        LIANA failed.
    """
    configured = bandwidth is not None
    if bandwidth is None:
        bandwidth = auto_bandwidth(adata)
    step = f"ccc_spatial (LIANA bivariate {local_name}/{global_name})"
    what = path or "spatial data"
    with liana_errors(step, sample=sample):
        # liana's default of 100 neighbours fails on datasets of 100 spots or fewer
        li.ut.spatial_neighbors(adata, bandwidth=bandwidth, cutoff=cutoff, max_neighbours=min(100, adata.n_obs - 1))
    check_neighbourhood(adata, bandwidth=bandwidth, cutoff=cutoff, configured=configured, path=path)
    pairs = usable_pairs(resource, adata.var_names)
    empty = pd.DataFrame(columns=list(_bivariate_columns(local_name, global_name)))
    if pairs.empty:
        logger.warning(
            "%s: none of the %d LR pairs of the resource has all its genes among the %d imputed genes; "
            "the spatial communication table is empty",
            what, len(resource), adata.n_vars,
        )
        return None, empty
    try:
        with liana_errors(step, sample=sample):
            local, table = _bivariate_table(adata, pairs, bandwidth=bandwidth, local_name=local_name,
                                            global_name=global_name, n_perms=n_perms, seed=seed)
    except CommstCCCError as err:
        if "No features with non-zero proportions" not in err.problem:
            raise
        logger.warning(
            "%s: none of the %d LR pairs with measured genes is expressed in enough spots (LIANA's nz_prop); "
            "the spatial communication table is empty",
            what, len(pairs),
        )
        return None, empty
    logger.info("bivariate %s/%s: %d LR pairs, bandwidth %.3g", local_name, global_name, len(table), bandwidth)
    return local, table


def _run_celltype(
    adata: ad.AnnData,
    resource: pd.DataFrame,
    *,
    groupby: str,
    method: str,
    expr_prop: float,
    min_cells: int,
    n_perms: int,
    seed: int,
) -> pd.DataFrame:
    kwargs = {"n_perms": n_perms, "seed": seed} if method in {"rank_aggregate", "cellphonedb", "cellchat", "geometric_mean"} else {}
    getattr(li.mt, method)(
        adata,
        groupby=groupby,
        resource=resource,
        expr_prop=expr_prop,
        min_cells=min_cells,
        use_raw=False,
        key_added="liana_res",
        verbose=False,
        **kwargs,
    )
    return adata.uns.pop("liana_res").reset_index(drop=True)


def celltype_communication(
    adata: ad.AnnData,
    resource: pd.DataFrame,
    *,
    groupby: str,
    method: str = "rank_aggregate",
    expr_prop: float = 0.1,
    min_cells: int = 5,
    n_perms: int = 100,
    seed: int = 0,
    sample: str | None = None,
    step: str = "ccc",
    path: str | None = None,
) -> pd.DataFrame:
    """Run a LIANA+ cell-type-level method and return its result table.

    Groups with fewer than ``min_cells`` observations are left out (LIANA's rule), with a
    warning naming them: a rare reference cell type stays in the imputation but has too few
    cells for a per-type statistic.

    Parameters
    ----------
    adata
        Observations × genes with log-normalised ``X`` and ``obs[groupby]``.
    resource
        LR table with ``ligand`` and ``receptor`` columns.
    groupby
        Column of ``obs`` with the group of each observation (cell type, or for imputed
        spots their ``matched_cell_type`` label).
    method
        One of :data:`CELLTYPE_METHODS`.
    expr_prop, min_cells, n_perms, seed
        Passed to LIANA.
    sample, step, path
        Named in warnings and errors.

    Returns
    -------
    LIANA's long table (one row per source, target, ligand complex, receptor complex). Empty,
    with the same columns and a warning, when no LR pair has all its genes measured or fewer
    than two groups have ``min_cells`` observations.

    Raises
    ------
    ValueError
        Unknown ``method``.
    CommstCCCError
        LIANA failed.
    """
    if method not in CELLTYPE_METHODS:
        raise ValueError(f"unknown LIANA method {method!r}; choose one of {CELLTYPE_METHODS}")
    what = path or "data"
    step = f"{step} (LIANA {method} over {groupby})"
    counts = adata.obs[groupby].astype(str).value_counts()
    small = counts[counts < min_cells]
    if len(small):
        logger.warning(
            "%s: label-level CCC (%s) leaves out %d group(s) of obs[%r] with fewer than ccc.min_cells = %d "
            "observations: %s",
            what, method, len(small), groupby, min_cells, ", ".join(f"{k} ({v})" for k, v in small.items()),
        )
    with liana_errors(step, sample=sample):
        empty = pd.DataFrame(columns=list(_celltype_columns(method)))
    if len(counts) - len(small) < 2:
        logger.warning(
            "%s: fewer than 2 groups of obs[%r] have at least ccc.min_cells = %d observations; the %s table is empty",
            what, groupby, min_cells, method,
        )
        return empty
    pairs = usable_pairs(resource, adata.var_names)
    if pairs.empty:
        logger.warning(
            "%s: none of the %d LR pairs of the resource has all its genes among the %d genes here; the %s "
            "table is empty",
            what, len(resource), adata.n_vars, method,
        )
        return empty
    with liana_errors(step, sample=sample):
        result = _run_celltype(adata, pairs, groupby=groupby, method=method, expr_prop=expr_prop,
                               min_cells=min_cells, n_perms=n_perms, seed=seed)
    logger.info("%s over %s: %d rows from %d usable LR pairs", method, groupby, len(result), len(pairs))
    if result.empty:
        logger.warning("%s: no LR pair passes LIANA's filters (ccc.expr_prop = %g); the %s table is empty",
                       what, expr_prop, method)
        return empty
    return result


def celltype_tables(
    adata: ad.AnnData,
    resource: pd.DataFrame,
    *,
    groupby: str,
    methods: list[str],
    options: dict,
    seed: int = 0,
    sample: str | None = None,
    step: str = "ccc",
    path: str | None = None,
) -> dict[str, pd.DataFrame]:
    """Run several cell-type-level methods with the workflow's ``ccc:`` options.

    Returns
    -------
    Method name → LIANA result table (see :func:`celltype_communication`).
    """
    return {
        method: celltype_communication(
            adata,
            resource,
            groupby=groupby,
            method=method,
            expr_prop=options["expr_prop"],
            min_cells=options["min_cells"],
            n_perms=options["n_perms"],
            seed=seed,
            sample=sample,
            step=step,
            path=path,
        )
        for method in methods
    }
