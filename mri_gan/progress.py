"""Progress bars for long inner loops (predictions, feature activations, classifier training,
style refinement), shown only inside ``shown()``: the demo, `mri-gan evaluate` and `mri-gan report`
turn them on; library calls and tests stay silent."""

from __future__ import annotations

import contextlib

_on = False


@contextlib.contextmanager
def shown(on: bool = True):
    """Show the inner loops' bars within the block (when ``on``)."""
    global _on
    previous, _on = _on, on
    try:
        yield
    finally:
        _on = previous


def bar(desc: str, total: int | None = None, unit: str = "step"):
    """A tqdm bar, disabled outside ``shown()``; cleared when done."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not _on, leave=False)
