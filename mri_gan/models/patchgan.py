"""The Pix2Pix discriminator: a PatchGAN on (condition, target or synthesized) pairs.

``patch_layers`` 4x4 convolutions stride 2 (widths doubling from ``filters`` up to 8x, no batch
norm on the first), one stride-1 convolution and a one-channel stride-1 convolution of logits;
``patch_layers=3`` sees 70x70 input pixels per logit.
"""

from __future__ import annotations

import keras

from mri_gan.models.layers import batch_norm, leaky


def patch_receptive_field(patch_layers: int) -> int:
    """Input pixels (per side) seen by one PatchGAN logit: 4x4 kernels, strides 2 x n, 1, 1."""
    strides = [2] * patch_layers + [1, 1]
    field, jump = 1, 1
    for s in strides:
        field += 3 * jump
        jump *= s
    return field


@keras.saving.register_keras_serializable(package="mri_gan")
class PatchDiscriminator(keras.Model):
    """(condition [N, S, S, Cc], image [N, S, S, Ci]) -> patch logits [N, S / 2^n, S / 2^n, 1]."""

    def __init__(self, in_channels=2, filters=64, patch_layers=3, **kwargs):
        super().__init__(**kwargs)
        self.in_channels, self.filters, self.patch_layers = in_channels, filters, patch_layers
        self.blocks = []
        for i in range(patch_layers + 1):
            stride = 2 if i < patch_layers else 1
            norm = batch_norm() if i else None
            self.blocks.append([keras.layers.Conv2D(filters * min(2 ** i, 8), 4, stride, "same",
                                                    use_bias=norm is None), norm, leaky()])
        self.logits = keras.layers.Conv2D(1, 4, 1, "same", dtype="float32")

    def build(self, condition_shape):
        """Create every weight from the condition's channels (the image has the other input channels),
        so that a network loaded from a .keras file, which passes this shape only, reads its weights."""
        size, given = 2 ** self.patch_layers, condition_shape[-1]
        self.call(keras.ops.zeros((1, size, size, given)),
                  keras.ops.zeros((1, size, size, self.in_channels - given)))

    def call(self, condition, image, training=None):
        x = keras.ops.concatenate([condition, keras.ops.cast(image, condition.dtype)], axis=-1)
        for conv, norm, act in self.blocks:
            x = conv(x)
            if norm is not None:
                x = norm(x, training=training)
            x = act(x)
        return self.logits(x)

    def get_config(self):
        return {**super().get_config(), "in_channels": self.in_channels, "filters": self.filters,
                "patch_layers": self.patch_layers}
