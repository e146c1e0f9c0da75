"""Progressive GAN (Karras et al. 2018), as used for brain MRI by Han et al. (paper Table 1).

The networks (models.pggan_networks) hold every resolution block; each growth stage has its own
trace, and alpha, fed with each batch, fades the newest block in. WGAN-GP with drift penalty by
default; the non-saturating logistic loss with Mescheder et al.'s R1 penalty (gp_weight / 2 x
|grad D|^2 on the reals, Karras et al.'s "simplegp") as an option; both penalties live in
mri_gan.losses. Samples come from a running average of the trained generator's weights (Karras
et al.'s Gs). Conditional by label when ``cfg.conditional``. With ``cfg.pggan.augment``, D sees reals and
fakes through DiffAugment. The growth schedule lives in pggan_schedule.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from mri_gan import losses
from mri_gan.data.slice_set import SliceSet
from mri_gan.models import diffaugment
from mri_gan.models.pggan_networks import PGGANDiscriminator, PGGANGenerator, upsample
from mri_gan.models.pggan_schedule import GrowthSchedule
from mri_gan.models.task import GenerativeTask, tile


class PGGAN(GenerativeTask):
    """The progressive GAN task: one trace per growth stage, alpha fed with each batch."""

    LOGS = ("d_loss", "g_loss", "gradient_penalty", "real_score", "fake_score", "alpha", "resolution")

    def __init__(self, cfg, meta):
        super().__init__(cfg, meta)
        self.schedule = GrowthSchedule.from_config(cfg)
        self.augmentations = cfg.pggan.augmentations

    def build(self) -> None:
        """``trained_generator`` is the network the optimiser trains; ``generator``, where every
        output comes from, holds the running average of its weights (Karras et al.'s Gs, with a
        half-life of ``cfg.pggan.ema_images`` images), or is the same network when ``ema_images`` is 0."""
        size, g = self.cfg.image_size, self.cfg.pggan
        channels = len(g.sequences)

        def make(name):
            return PGGANGenerator(size, g.start_size, channels, g.z_dim, g.fmap_base,
                                  g.fmap_max, self.num_classes, g.fmap_min, g.upsampling, name=name)

        self.trained_generator = make("trained_generator")
        self.generator = make("generator") if g.ema_images else self.trained_generator
        self.discriminator = PGGANDiscriminator(size, g.start_size, channels, g.fmap_base,
                                                g.fmap_max, self.num_classes, g.fmap_min,
                                                name="discriminator")
        labels = tf.zeros([1], tf.int32) if self.num_classes else None
        z = tf.zeros([1, g.z_dim])
        self.discriminator(self.trained_generator(z, labels), labels)
        if self.generator is not self.trained_generator:
            self.generator(z, labels)
            for average, weight in zip(self.generator.weights, self.trained_generator.weights):
                average.assign(weight)
        # the stage and alpha the last step trained in (what generate shows; resume reads the step)
        self.stage = tf.Variable(0, dtype=tf.int64, trainable=False, name="stage",
                                 aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.alpha = tf.Variable(1.0, dtype=tf.float32, trainable=False, name="alpha",
                                 aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.g_opt = self._adam(self.cfg.lr_g)
        self.d_opt = self._adam(self.cfg.lr_d)
        self.g_opt.build(self.trained_generator.trainable_variables)
        self.d_opt.build(self.discriminator.trainable_variables)

    def trackables(self) -> dict:
        out = {**super().trackables(), "stage": self.stage, "alpha": self.alpha}
        if self.generator is not self.trained_generator:
            out["trained_generator_weights"] = list(self.trained_generator.weights)
        return out

    # -- data ------------------------------------------------------------------------------
    def segments(self, total_steps: int) -> list[tuple[int, int, int]]:
        return self.schedule.segments(total_steps)

    def batch_spec(self, step: int = 0) -> dict:
        stage = self.schedule.at_step(step).stage
        r, c = stage.resolution, len(self.cfg.pggan.sequences)
        spec = {"image": tf.TensorSpec([None, r, r, c], tf.float32),
                "label": tf.TensorSpec([None], tf.int32),
                "z": tf.TensorSpec([None, self.cfg.pggan.z_dim], tf.float32),
                "mix": tf.TensorSpec([None], tf.float32)}
        if stage.fading:
            spec["alpha"] = tf.TensorSpec([None], tf.float32)
        if self.augmentations:
            spec["augment"] = tf.TensorSpec([None, 3, diffaugment.PARAMETERS], tf.float32)
        return spec

    def draw(self, seed, step, n: int, segment: int = 0) -> dict:
        """Besides the random numbers, the fade-in's alpha of ``step`` per example."""
        geometry, z, mix, augment = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
        draws = {**self.geometry_draws(geometry, n), "z": tf.random.stateless_normal([n, self.cfg.pggan.z_dim], z),
                 "mix": tf.random.stateless_uniform([n], mix)}
        stage = self.schedule.at_step(segment).stage
        if stage.fading:
            shown = tf.cast((step - stage.first_step) * stage.batch, tf.float32)
            draws["alpha"] = tf.fill([n], tf.minimum(1.0, shown / self.schedule.images_per_stage))
        if self.augmentations:
            draws["augment"] = tf.random.stateless_uniform([n, 3, diffaugment.PARAMETERS], augment)
        return draws

    def assemble(self, source, index, draws, segment: int = 0) -> dict:
        """Reals box-filtered to the stage resolution (half of them mirrored when ``cfg.flip``);
        during a fade-in they are blended with their own half-resolution version by alpha, as G's
        output is. With ``cfg.pggan.augment``, the DiffAugment parameters of the reals, D's fakes and G's
        fakes."""
        stage = self.schedule.at_step(segment).stage
        images, labels = self.reals(source, index)
        factor = images.shape[1] // stage.resolution
        if factor > 1:
            images = tf.nn.avg_pool2d(images, factor, factor, "VALID")
        images = self.transformed(draws, images)[0]
        batch = {"label": labels, **{k: draws[k] for k in ("z", "mix", "alpha", "augment") if k in draws}}
        if stage.fading:
            low = tf.repeat(tf.repeat(tf.nn.avg_pool2d(images, 2, 2, "VALID"), 2, axis=1), 2, axis=2)
            alpha = draws["alpha"][:, None, None, None]
            images = (1 - alpha) * low + alpha * images
        batch["image"] = images
        return batch

    def noise(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Standard normal latents (G normalises them onto the sphere)."""
        return rng.standard_normal((n, self.cfg.pggan.z_dim)).astype(np.float32)

    # -- the step --------------------------------------------------------------------------
    def _adversarial(self, real_scores, fake_scores):
        """Per-example adversarial part of D's loss (the drift penalty included for WGAN)."""
        if self.cfg.pggan.pggan_loss == "wgan-gp":
            return (losses.wasserstein_d(real_scores, fake_scores)
                    + self.cfg.pggan.drift_weight * losses.drift(real_scores))
        return losses.discriminator_bce(real_scores, fake_scores)

    def _generator_loss(self, fake_scores):
        if self.cfg.pggan.pggan_loss == "wgan-gp":
            return losses.wasserstein_g(fake_scores)
        return losses.generator_bce(fake_scores)

    def _gradient_penalty(self, real, fake, mix, labels, level, alpha):
        """Per example, weighted: WGAN-GP's at random interpolates of reals and fakes, or R1's at
        the reals (0 when ``gp_weight`` is 0)."""
        if not self.cfg.pggan.gp_weight:
            return tf.zeros_like(mix)

        def critic(images):
            return self.discriminator(images, labels, level=level, alpha=alpha, training=True)

        if self.cfg.pggan.pggan_loss == "wgan-gp":
            return self.cfg.pggan.gp_weight * losses.wgan_gradient_penalty(critic, real, fake, mix)
        return self.cfg.pggan.gp_weight * losses.r1_penalty(critic, real)

    @tf.autograph.experimental.do_not_convert  # no tensor-dependent Python control flow
    def replica_step(self, batch: dict, global_batch: int) -> dict:
        G, D = self.trained_generator, self.discriminator
        real = batch["image"]
        resolution = real.shape[1]
        level = int(math.log2(resolution // self.cfg.pggan.start_size))
        alpha = batch.get("alpha")
        labels = batch["label"] if self.num_classes else None

        def average(per):
            return tf.nn.compute_average_loss(per, global_batch_size=global_batch)

        real = self._seen(real, batch, 0)
        fake = self._seen(G(batch["z"], labels, level=level, alpha=alpha, training=True), batch, 1)
        with tf.GradientTape() as tape:
            real_scores = D(real, labels, level=level, alpha=alpha, training=True)
            fake_scores = D(fake, labels, level=level, alpha=alpha, training=True)
            penalty = self._gradient_penalty(real, fake, batch["mix"], labels, level, alpha)
            d_loss = average(self._adversarial(real_scores, fake_scores) + penalty)
        self._apply(self.d_opt, tape, d_loss, D.trainable_variables)
        with tf.GradientTape() as tape:
            g_scores = D(self._seen(G(batch["z"], labels, level=level, alpha=alpha, training=True), batch, 2),
                         labels, level=level, alpha=alpha, training=True)
            g_loss = average(self._generator_loss(g_scores))
        self._apply(self.g_opt, tape, g_loss, G.trainable_variables)
        self._update_average(global_batch)

        stage_index = 2 * level - (1 if alpha is not None else 0)
        alpha_now = alpha[0] if alpha is not None else tf.constant(1.0)
        self.stage.assign(tf.constant(stage_index, tf.int64))
        self.alpha.assign(alpha_now)
        ones = tf.ones_like(batch["mix"])
        return {"d_loss": d_loss, "g_loss": g_loss, "gradient_penalty": average(penalty),
                "real_score": average(tf.reshape(tf.cast(real_scores, tf.float32), [-1])),
                "fake_score": average(tf.reshape(tf.cast(fake_scores, tf.float32), [-1])),
                "alpha": average(ones * (alpha if alpha is not None else 1.0)),
                "resolution": average(ones * float(resolution))}

    def _seen(self, images, batch: dict, k: int):
        """What D sees of ``images``: themselves, or with ``cfg.pggan.augment`` their DiffAugment by the
        batch's k-th parameter set (0 reals, 1 D's fakes, 2 G's fakes)."""
        if not self.augmentations:
            return images
        return diffaugment.augment(images, batch["augment"][:, k], self.augmentations)

    def _update_average(self, global_batch: int) -> None:
        """generator <- running average of trained_generator (every replica holds the same values;
        the assignment happens once, in cross-replica context)."""
        if self.generator is self.trained_generator:
            return
        keep = 0.5 ** (global_batch / self.cfg.pggan.ema_images)
        pairs = list(zip(self.generator.weights, self.trained_generator.weights))
        values = [w + keep * (average - w) for average, w in pairs]

        def assign(strategy, values):
            for (average, _), value in zip(pairs, values):
                strategy.extended.update(average.value, lambda var, v: var.assign(v), args=(value,))

        tf.distribute.get_replica_context().merge_call(assign, args=(values,))

    def _apply(self, opt, tape, loss, variables) -> None:
        """Update the variables the current stage uses (blocks not yet grown get no gradient)."""
        if isinstance(opt, keras.optimizers.LossScaleOptimizer):
            loss = opt.scale_loss(loss)
        used = [(g, v) for g, v in zip(tape.gradient(loss, variables), variables) if g is not None]
        opt.apply([g for g, _ in used], [v for _, v in used])

    # -- using the model -------------------------------------------------------------------
    def current(self) -> tuple[int, float | None]:
        """(level, alpha or None) the last training step used: what generate shows."""
        stage = int(self.stage.numpy())
        level = (stage + 1) // 2
        return level, (float(self.alpha.numpy()) if stage % 2 else None)

    def generate(self, z: np.ndarray, labels: np.ndarray | None = None, batch: int = 64) -> np.ndarray:
        """Images [N, image_size, image_size, C] in [-1, 1] at the current stage (nearest-upsampled
        to the final size while the model is still growing)."""
        level, alpha = self.current()
        factor = self.cfg.image_size // (self.cfg.pggan.start_size * 2 ** level)
        out = []
        for i in range(0, len(z), batch):
            n = len(z[i:i + batch])
            lab = tf.constant(labels[i:i + batch], tf.int32) if self.num_classes else None
            a = tf.fill([n], alpha) if alpha is not None else None
            images = self.generator(tf.constant(z[i:i + batch]), lab, level=level, alpha=a, training=False)
            out.append(np.clip(upsample(images, factor).numpy() if factor > 1 else images.numpy(), -1, 1))
        return np.concatenate(out).astype(np.float32)

    def sample_grid(self, data: SliceSet, seed: int) -> np.ndarray:
        rng = np.random.default_rng([seed, 7])
        cols = 8
        labels = np.repeat(np.arange(self.num_classes), cols).astype(np.int32) if self.num_classes else None
        n = len(labels) if labels is not None else 2 * cols
        images = self.generate(self.noise(rng, n), labels)
        return tile(np.concatenate([images[..., c] for c in range(images.shape[-1])]), cols)
