"""Scale benchmark: larger realistic data from a real pair, and time and memory of each method.

Issue #7 asks how train + impute grow from 10^3 to 10^5 (or 10^6) spots with matched
reference sizes, for CommST and its peers, on CPU and on a GPU. This package holds the logic
of the ``scale`` rules of the workflow (``workflow/rules/scale.smk``), usable without
Snakemake:

- :mod:`.synth`: :func:`synthesize_pair` makes a larger (or smaller) prepared pair from a real prepared
  pair (:func:`commst.pp.prepare` output): spots by tiling the slide with noisy copies,
  reference cells by cell-type-stratified resampling with the same noise; sparse throughout.
- :mod:`.meter`: :func:`measure` runs a command in its own process group and records its wall time and the
  peak resident memory of its whole process tree, killing it past a time or memory limit, so
  that a method running out of memory is *recorded*, not fatal.
- :mod:`.run`: :func:`run_method` is what the measured child runs (``python -m commst.benchmark.scale
  run ...``): load the pair, then train + impute every LR target with one method, timing the
  loading and the method apart.
  :func:`scale_job` puts the two together for one (size, method, device);
- :mod:`.tables`: :func:`scale_table` and :func:`fit_table` gather the runs into ``scale.tsv`` and the
  fitted growth exponents (:func:`fit_exponent`) into ``scale_fit.tsv``.

Command line (:mod:`.__main__`)::

    python -m commst.benchmark.scale synthesize --spatial S.h5ad --reference R.h5ad \\
        --n-spots 100000 --n-cells 100000 --out-dir data/
    python -m commst.benchmark.scale run --method knn --spatial data/spatial.h5ad \\
        --reference data/reference.h5ad --device cpu --out knn.json [--params '{"k": 20}']
"""

from __future__ import annotations

from commst.benchmark.scale.meter import STATUSES, measure
from commst.benchmark.scale.run import child_env, device_params, run_method, scale_job
from commst.benchmark.scale.synth import pair_summary, spot_spacing, synthesize_pair, write_pair
from commst.benchmark.scale.tables import FIT_COLUMNS, SCALE_COLUMNS, fit_exponent, fit_table, scale_table

__all__ = [
    "FIT_COLUMNS",
    "SCALE_COLUMNS",
    "STATUSES",
    "child_env",
    "device_params",
    "fit_exponent",
    "fit_table",
    "measure",
    "pair_summary",
    "run_method",
    "scale_job",
    "scale_table",
    "spot_spacing",
    "synthesize_pair",
    "write_pair",
]
