"""Which images an evaluation keeps as examples for its figures."""

from __future__ import annotations

import numpy as np


def spread(n: int, count: int = 6) -> np.ndarray:
    """Up to ``count`` indices spread evenly over n items."""
    return np.unique(np.linspace(0, n - 1, min(n, count)).round().astype(int)) if n else np.zeros(0, int)
