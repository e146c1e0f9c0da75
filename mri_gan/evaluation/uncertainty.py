"""Whether an uncertainty map is worth reading: on held-out slices, does a high test-time spread
go with a high error?"""

from __future__ import annotations

import numpy as np
from scipy import stats

#: spread bins (equal pixel counts, lowest spread first)
BINS = 5
#: most pixels the rank correlation reads (an even subsample beyond)
MAX_PIXELS = 500_000
DEFINITION = ("pixels inside the brain mask ranked by the test-time spread of the synthesis "
              "(standard deviation over its draws, [0, 1] scale): Spearman's rank correlation of spread "
              "and |error|, the mean |error| in each fifth of the pixels by spread (lowest first), and "
              "the top fifth's mean |error| over the bottom fifth's")


def calibration(spread: np.ndarray, error: np.ndarray, mask: np.ndarray) -> dict | None:
    """Spread against |error| (both [N, H, W], [0, 1] scale) inside ``mask``; None without pixels."""
    s, e = np.asarray(spread)[mask], np.abs(np.asarray(error))[mask]
    if len(s) < BINS:
        return None
    order = np.argsort(s, kind="stable")
    bins = [float(e[chunk].mean()) for chunk in np.array_split(order, BINS)]
    step = max(1, len(s) // MAX_PIXELS)
    rho = stats.spearmanr(s[::step], e[::step]).statistic
    return {"spearman": round(float(rho), 4), "error_by_spread_fifth": [round(b, 5) for b in bins],
            "top_over_bottom": round(bins[-1] / bins[0], 3) if bins[0] > 0 else None,
            "mean_spread": round(float(s.mean()), 5), "pixels": int(len(s))}
