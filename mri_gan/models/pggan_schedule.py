"""Progressive growing (Karras et al. 2018) as a pure function of the number of images seen.

Stage 0 trains the start resolution. Each doubling then has a fade-in stage, where the new
block's output is blended in with weight alpha rising linearly from 0 towards 1, and a
stabilising stage at alpha 1. Every stage but the last shows ``images_per_stage`` images,
rounded up to whole steps of its batch; the last stage (the final resolution, stable) lasts
until training ends. Batches may be larger at low resolution: the batch doubles for each
halving of the resolution, up to ``max_batch_size`` (0 keeps ``batch_size`` throughout).
"""

from __future__ import annotations

import bisect
import functools
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    """One stretch of training with a fixed resolution, batch and fade flag."""

    index: int          # 0 = start resolution; then fade-in (odd) and stable (even) alternate
    resolution: int
    level: int          # doublings above the start resolution
    fading: bool
    batch: int
    first_step: int
    first_image: int
    steps: int | None   # None for the last stage (it lasts until training ends)


@dataclass(frozen=True)
class Phase:
    """Where training is after ``images`` images: the stage and its fade-in alpha."""

    stage: Stage
    alpha: float
    images: int


@dataclass(frozen=True)
class GrowthSchedule:
    start_size: int
    final_size: int
    images_per_stage: int
    batch_size: int
    max_batch_size: int = 0

    def __post_init__(self):
        levels = math.log2(self.final_size / self.start_size) if self.start_size > 0 else -1
        if levels < 0 or levels != int(levels) or self.start_size < 4:
            raise ValueError(f"final size {self.final_size} must be start size {self.start_size} "
                             f"(>= 4) times a power of two")
        if self.images_per_stage < 1 or self.batch_size < 1 or self.max_batch_size < 0:
            raise ValueError("images_per_stage and batch_size must be positive, max_batch_size >= 0")

    @classmethod
    def from_config(cls, cfg) -> GrowthSchedule:
        return cls(cfg.pggan.start_size, cfg.image_size, cfg.pggan.images_per_stage, cfg.batch_size,
                   cfg.pggan.max_batch_size)

    @property
    def levels(self) -> int:
        """Number of resolutions, start and final included."""
        return int(math.log2(self.final_size // self.start_size)) + 1

    def batch_at(self, resolution: int) -> int:
        """Global batch used at a resolution."""
        if self.max_batch_size <= self.batch_size:
            return self.batch_size
        return min(self.max_batch_size, self.batch_size * (self.final_size // resolution))

    @functools.cached_property
    def stages(self) -> tuple[Stage, ...]:
        out, step, images = [], 0, 0
        count = 2 * self.levels - 1
        for index in range(count):
            level = (index + 1) // 2
            resolution = self.start_size * 2 ** level
            batch = self.batch_at(resolution)
            steps = -(-self.images_per_stage // batch) if index < count - 1 else None
            out.append(Stage(index, resolution, level, index % 2 == 1, batch, step, images, steps))
            if steps is not None:
                step, images = step + steps, images + steps * batch
        return tuple(out)

    @property
    def growth_steps(self) -> int:
        """Steps before the final stage begins (the whole growth, fade-ins included)."""
        return self.stages[-1].first_step

    def _phase(self, stage: Stage, images: int) -> Phase:
        alpha = min(1.0, (images - stage.first_image) / self.images_per_stage) if stage.fading else 1.0
        return Phase(stage, alpha, images)

    def at_images(self, images: int) -> Phase:
        """The phase after ``images`` images (the state the next step trains in)."""
        if images < 0:
            raise ValueError("images must be >= 0")
        k = bisect.bisect_right([s.first_image for s in self.stages], images) - 1
        return self._phase(self.stages[k], images)

    def at_step(self, step: int) -> Phase:
        """The phase step ``step`` (0-based) trains in."""
        if step < 0:
            raise ValueError("step must be >= 0")
        k = bisect.bisect_right([s.first_step for s in self.stages], step) - 1
        stage = self.stages[k]
        return self._phase(stage, stage.first_image + (step - stage.first_step) * stage.batch)

    def segments(self, total_steps: int) -> list[tuple[int, int, int]]:
        """(first step, end step, global batch) per stage, cut at ``total_steps``."""
        out = []
        for stage in self.stages:
            end = total_steps if stage.steps is None else min(stage.first_step + stage.steps, total_steps)
            if stage.first_step >= total_steps:
                break
            out.append((stage.first_step, end, stage.batch))
        return out
