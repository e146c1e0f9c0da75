"""What the generative families' options share (``DCGANConfig``, ``PGGANConfig``); no TensorFlow."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class GenerativeConfig:
    z_dim: int = 100
    sequences: list[str] = field(default_factory=lambda: ["t1"])   # generated channels
