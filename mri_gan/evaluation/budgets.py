"""How much an evaluation does (``--budget``): synthetic images, style iterations, classifier
training and seeds."""

from __future__ import annotations

from dataclasses import dataclass, field

from mri_gan.errors import UserError
from mri_gan.evaluation import classifiers

DEFINITION = ("per_class: least synthetic images per tumour class; style_steps / style_images: Gatys "
              "iterations and most images stylized by the loop run here; seeds: of the downstream classifier; "
              "classifier: epochs, batch size, filters, learning rate and least optimisation steps of the "
              "downstream and feature CNNs; two_sample: the same for the real-vs-synthetic CNN; "
              "kid_subsets: random subsets behind KID")


@dataclass(frozen=True)
class Budget:
    """How much evaluation to do: synthetic images, style steps, classifier training, seeds."""

    name: str
    per_class: int                  # least synthetic images per tumour / no-tumour class (x2 unconditional)
    style_steps: int                # Gatys iterations when evaluate runs the loop itself
    style_images: int               # most images stylized when evaluate runs the loop itself
    seeds: tuple[int, ...]          # downstream classifier seeds
    classifier: classifiers.Budget = field(default_factory=classifiers.Budget)
    kid_subsets: int = 50
    # real vs synthetic: trained until it fits its training images, or a near-0.5 accuracy proves nothing
    two_sample: classifiers.Budget = field(
        default_factory=lambda: classifiers.Budget(epochs=30, filters=32, min_steps=2000))


BUDGETS = {
    "smoke": Budget("smoke", per_class=12, style_steps=2, style_images=24, seeds=(0, 1, 2),
                    classifier=classifiers.Budget(epochs=1, batch_size=16, filters=4), kid_subsets=5,
                    two_sample=classifiers.Budget(epochs=1, batch_size=16, filters=4)),
    "small": Budget("small", per_class=128, style_steps=20, style_images=256, seeds=(0, 1, 2),
                    classifier=classifiers.Budget(epochs=5, min_steps=300)),
    "full": Budget("full", per_class=512, style_steps=100, style_images=1024, seeds=(0, 1, 2, 3, 4),
                   classifier=classifiers.Budget(epochs=10, min_steps=600), kid_subsets=100,
                   two_sample=classifiers.Budget(epochs=60, filters=32, min_steps=4000)),
}


def resolve_budget(budget) -> Budget:
    if isinstance(budget, Budget):
        return budget
    if budget not in BUDGETS:
        raise UserError("--budget", f"unknown budget {budget!r} (known: {', '.join(BUDGETS)})")
    return BUDGETS[budget]
