"""Cell–cell communication with LIANA+: spatial bivariate scores with a calibrated test, label level.

- :func:`spatial_bivariate`: LIANA+'s global bivariate Moran's R (and local scores) of every
  usable LR pair, tested under a null that keeps what imputation does to the data
  (:func:`lr_significance`, :data:`NULLS`), with Benjamini–Hochberg q-values.
- :func:`driver_status`, :func:`measured_view`, :func:`compare_measured`,
  :func:`moran_inflation`: what imputation added (the same test on the data as measured) and
  whether it inflated spatial structure.
- :func:`measured_communication`, :func:`imputed_communication`: the workflow's two spatial
  steps with the config's ``ccc:`` options.
- :func:`celltype_communication`, :func:`celltype_tables`: LIANA+'s cell-type-level methods over
  spot labels or reference cell types.

Every LIANA call goes through :func:`liana_errors`: a failure becomes a
:class:`CommstCCCError` naming the sample, the step, the problem and the fix. Data that leave
nothing to score give an empty table with LIANA's columns and a warning, not an error.
"""

from __future__ import annotations

from ._bivariate import (
    MAX_ISOLATED_SPOTS,
    auto_bandwidth,
    check_neighbourhood,
    empty_bivariate_table,
    spatial_bivariate,
    spatial_graph,
)
from ._celltype import CELLTYPE_METHODS, celltype_communication, celltype_tables
from ._diagnostics import (
    compare_measured,
    driver_status,
    local_contributions,
    measured_pairs,
    measured_view,
)
from ._liana import CommstCCCError, liana_errors, usable_pairs
from ._moran import moran_inflation, split_half_moran
from ._pipeline import imputed_communication, measured_communication
from ._significance import DEFAULT_NULL, NULLS, bh, cross_decoys, lr_significance, statistic_weights

__all__ = [
    "CELLTYPE_METHODS",
    "DEFAULT_NULL",
    "MAX_ISOLATED_SPOTS",
    "NULLS",
    "CommstCCCError",
    "auto_bandwidth",
    "bh",
    "celltype_communication",
    "celltype_tables",
    "check_neighbourhood",
    "compare_measured",
    "cross_decoys",
    "driver_status",
    "empty_bivariate_table",
    "imputed_communication",
    "liana_errors",
    "local_contributions",
    "lr_significance",
    "measured_communication",
    "measured_pairs",
    "measured_view",
    "moran_inflation",
    "spatial_bivariate",
    "spatial_graph",
    "split_half_moran",
    "statistic_weights",
    "usable_pairs",
]
