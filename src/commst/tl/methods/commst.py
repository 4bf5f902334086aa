"""The ``commst`` method: the CommST model (:func:`commst.model.impute_commst`)."""

from __future__ import annotations

from ...model import impute_commst

__all__ = ["impute_commst"]
