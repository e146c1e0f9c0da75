"""DCGAN and its class-conditional variant (paper section 3.1); the networks live in
models.dcgan_networks.

G: uniform z -> dense -> reshape 4x4 -> transposed convolutions (stride 2, BN, LeakyReLU) up to
the image size -> tanh. D: stride-2 convolutions with channels doubling, BN on every layer but
the first, LeakyReLU, one logit (the sigmoid lives in the loss). Binary cross-entropy.
The conditional model joins a label embedding to z and a label plane to D's input.
Beyond the paper, ``minibatch_std`` appends the batch's feature spread to D's last feature map
(Karras et al.), so a generator that collapses to a few images per class is caught.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from mri_gan import losses
from mri_gan.data.slice_set import SliceSet
from mri_gan.models.dcgan_networks import DCGANDiscriminator, DCGANGenerator
from mri_gan.models.task import GenerativeTask, tile


class DCGAN(GenerativeTask):
    """The DCGAN task (unconditional, or conditional when ``cfg.model == "cdcgan"``)."""

    LOGS = ("d_loss", "g_loss", "d_acc_real", "d_acc_fake")

    def build(self) -> None:
        cfg = self.cfg
        channels = len(cfg.dcgan.sequences)
        self.generator = DCGANGenerator(cfg.image_size, channels, cfg.dcgan.z_dim, cfg.dcgan.g_filters,
                                        self.num_classes, name="generator")
        self.discriminator = DCGANDiscriminator(cfg.image_size, channels, cfg.dcgan.d_filters,
                                                self.num_classes, cfg.dcgan.minibatch_std, name="discriminator")
        labels = tf.zeros([1], tf.int32) if self.num_classes else None
        self.discriminator(self.generator(tf.zeros([1, cfg.dcgan.z_dim]), labels), labels)
        self._build_optimizers()

    def batch_spec(self, step: int = 0) -> dict:
        s, c = self.cfg.image_size, len(self.cfg.dcgan.sequences)
        return {"image": tf.TensorSpec([None, s, s, c], tf.float32),
                "label": tf.TensorSpec([None], tf.int32),
                "z": tf.TensorSpec([None, self.cfg.dcgan.z_dim], tf.float32)}

    def draw(self, seed, step, n: int, segment: int = 0) -> dict:
        geometry, z = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        return {**self.geometry_draws(geometry, n),
                "z": tf.random.stateless_uniform([n, self.cfg.dcgan.z_dim], z, -1.0, 1.0)}

    def assemble(self, source, index, draws, segment: int = 0) -> dict:
        images, labels = self.reals(source, index)
        return {"image": self.transformed(draws, images)[0], "label": labels, "z": draws["z"]}

    def noise(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """The paper's uniform noise in [-1, 1)."""
        return rng.uniform(-1.0, 1.0, (n, self.cfg.dcgan.z_dim)).astype(np.float32)

    def replica_step(self, batch: dict, global_batch: int) -> dict:
        G, D = self.generator, self.discriminator
        labels = batch["label"] if self.num_classes else None

        def average(per):
            return tf.nn.compute_average_loss(per, global_batch_size=global_batch)

        with tf.GradientTape() as tape:
            fake = G(batch["z"], labels, training=True)
            real_logits = D(batch["image"], labels, training=True)
            fake_logits = D(fake, labels, training=True)
            d_loss = average(losses.discriminator_bce(real_logits, fake_logits, 1.0 - self.cfg.dcgan.label_smoothing))
        self._apply(self.d_opt, tape, d_loss, D.trainable_variables)
        with tf.GradientTape() as tape:
            g_logits = D(G(batch["z"], labels, training=True), labels, training=True)
            g_loss = average(losses.generator_bce(g_logits))
        self._apply(self.g_opt, tape, g_loss, G.trainable_variables)
        return {"d_loss": d_loss, "g_loss": g_loss,
                "d_acc_real": average(losses.accuracy_from_logits(real_logits, True)),
                "d_acc_fake": average(losses.accuracy_from_logits(fake_logits, False))}

    def generate(self, z: np.ndarray, labels: np.ndarray | None = None, batch: int = 64) -> np.ndarray:
        """Images [N, H, W, C] in [-1, 1] for noise ``z`` (and labels when conditional)."""
        out = []
        for i in range(0, len(z), batch):
            lab = tf.constant(labels[i:i + batch], tf.int32) if self.num_classes else None
            out.append(self.generator(tf.constant(z[i:i + batch]), lab, training=False).numpy())
        return np.concatenate(out).astype(np.float32)

    def sample_grid(self, data: SliceSet, seed: int) -> np.ndarray:
        rng = np.random.default_rng([seed, 7])
        cols = 8
        if self.num_classes:
            labels = np.repeat(np.arange(self.num_classes), cols).astype(np.int32)
        else:
            labels = None
        n = len(labels) if labels is not None else 2 * cols
        images = self.generate(self.noise(rng, n), labels)
        flat = np.concatenate([images[..., c] for c in range(images.shape[-1])])
        return tile(flat, cols)
