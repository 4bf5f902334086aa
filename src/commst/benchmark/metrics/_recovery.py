"""Metrics of communication recovery: rank correlation, PR-AUC, top-k overlap, false positives."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import average_precision_score


def _paired(truth: pd.Series | np.ndarray, pred: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(truth, pd.Series) and isinstance(pred, pd.Series):
        joined = pd.concat([truth.rename("t"), pred.rename("p")], axis=1, join="inner")
        t, p = joined["t"].to_numpy(dtype=float), joined["p"].to_numpy(dtype=float)
    else:
        t, p = np.asarray(truth, dtype=float).ravel(), np.asarray(pred, dtype=float).ravel()
        if t.shape != p.shape:
            raise ValueError(f"truth has {t.size} values but prediction has {p.size}")
    keep = np.isfinite(t) & np.isfinite(p)
    return t[keep], p[keep]


def spearman(truth: pd.Series | np.ndarray, pred: pd.Series | np.ndarray) -> float:
    """Spearman correlation of scores (e.g. per LR pair), NaN-pairs dropped.

    Parameters
    ----------
    truth, pred
        Scores on truth and on a method's output; Series are matched on their index (LR pair).

    Returns
    -------
    Spearman's rho, NaN with fewer than 3 pairs or a constant side.
    """
    t, p = _paired(truth, pred)
    if t.size < 3 or np.ptp(t) == 0 or np.ptp(p) == 0:
        return float("nan")
    return float(stats.spearmanr(t, p).statistic)


def pr_auc(truth_positive: pd.Series | np.ndarray, pred_score: pd.Series | np.ndarray) -> float:
    """Area under the precision–recall curve (average precision) of truth-positive items.

    Parameters
    ----------
    truth_positive
        Boolean: item (e.g. LR pair) significant in the truth.
    pred_score
        Method's score; higher = more confident the item is positive.

    Returns
    -------
    ``sklearn.metrics.average_precision_score``; NaN when the truth has no positive.
    """
    t, p = _paired(truth_positive, pred_score)
    if not (t > 0).any():
        return float("nan")
    return float(average_precision_score(t > 0, p))


def jaccard_top_k(
    truth: pd.Series,
    pred: pd.Series,
    k: int = 50,
    *,
    largest: bool = True,
) -> float:
    """Jaccard index of the top-``k`` items of two score Series.

    Parameters
    ----------
    truth, pred
        Scores indexed by item (e.g. ``source|target|ligand|receptor``).
    k
        How many top items to compare (fewer if a Series is shorter).
    largest
        ``True`` when larger scores rank first; ``False`` for ranks / p-values.

    Returns
    -------
    ``|A ∩ B| / |A ∪ B|`` of the two top-``k`` index sets.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")

    def top(s: pd.Series) -> set:
        s = s.dropna()
        s = s.sort_values(ascending=not largest, kind="mergesort")
        return set(s.index[:k])

    a, b = top(truth), top(pred)
    union = a | b
    return float(len(a & b) / len(union)) if union else float("nan")


def false_positive_rate(significant: pd.Series | np.ndarray) -> float:
    """Share of items called significant among items that should not be (e.g. decoy pairs).

    Parameters
    ----------
    significant
        Boolean per negative item (decoy pair, or pair whose ligand is absent in truth).

    Returns
    -------
    Mean of ``significant``; NaN when empty.
    """
    s = np.asarray(significant, dtype=bool)
    return float(s.mean()) if s.size else float("nan")
