"""CommST: ligand/receptor imputation for spatial transcriptomics.

Public namespaces follow scverse: :mod:`commst.io` (readers), :mod:`commst.pp`
(preprocessing), :mod:`commst.tl` (imputation), :mod:`commst.ccc` (communication),
:mod:`commst.pl` (plots), :mod:`commst.priors` (LR database, PPI, ligand→target).
"""

from __future__ import annotations

__version__ = "0.1.0"
