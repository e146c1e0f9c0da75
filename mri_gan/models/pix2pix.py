"""Pix2Pix (paper section 3.2): missing-sequence synthesis and one-model imputation.

G is a UNet (models.unet); its ``residual`` option adds, to an output with a partner sequence
(``PARTNERS``: T1 and T1ce) among the given inputs, that input. D is a PatchGAN (models.patchgan)
on (condition, target or synthesized) pairs; it scores real and synthesized pairs in one batch,
so its batch norms see both. Loss: sigmoid cross-entropy weighted by ``adv_lambda`` (0: D is not
run, G is trained on its supervised terms alone); G adds ``l1_lambda`` * L1 and ``ssim_lambda`` *
(1 - SSIM). ``lesion_weight`` weighs L1 by 1 + lesion_weight inside tumour masks (where the data
has them): lesions cover a few per cent of the brain, and an unweighted L1 lets G paint them the
grey of the tissue around them.

Two tasks share one step:

- translation (``--source`` one or several sequences stacked as channels, ``--target`` one);
- imputation (``--target any``): the input is the four sequences with the missing ones zeroed
  plus four availability planes, the output is the four sequences. Each training example hides
  1-3 of the sequences it has (as many as leave at least one; the count drawn with the relative
  ``hide_weights``) drawn from the step's random numbers; the L1 term and the synthesized part of D's fake
  input cover the hidden channels only (the given ones are passed through). At inference it
  fills whichever sequences are missing.

``context`` k > 0 makes either task 2.5-D: the input adds, after the slice's own channels, the
same channels of its k axial neighbours on each side (``data.context``; the availability planes
stay after the slice's own images, and a neighbour hides what the slice hides). Every caller of
``translate`` passes slices with their neighbours' channels (``SliceSet.with_context``).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from mri_gan import losses
from mri_gan.config import TrainConfig
from mri_gan.data.context import block_channels
from mri_gan.data.records import SEQUENCES, canonical_sequence
from mri_gan.data.slice_set import SliceSet
from mri_gan.models.imputation import hidden_sequences, imputation_input
from mri_gan.models.patchgan import PatchDiscriminator
from mri_gan.models.pix2pix_config import ANY
from mri_gan.models.task import GANTask, tile
from mri_gan.models.unet import UNetGenerator, fit_linear_maps

#: images per call when translating many slices
INFER_BATCH = 32
#: validation figures (``val_<name>``) from a ``paired_metrics`` result, None where undefined
VALIDATION_FIGURES = {
    "ssim": lambda r: r["ssim"]["mean"], "psnr": lambda r: r["psnr"]["mean"], "mae": lambda r: r["mae"]["mean"],
    "tumour_ssim": lambda r: r["tumour"]["ssim"]["mean"] if "tumour" in r else None,
    "lesion_contrast": lambda r: r["lesion_contrast"]["mean"] if "lesion_contrast" in r else None,
}


#: the input a synthesized sequence is predicted as a residual of (``residual=true``): T1 and T1ce
#: share their weighting, the contrast agent changing enhancing tissue and vessels only; T2 and
#: FLAIR differ in CSF (bright / dark), so they are predicted whole
PARTNERS = {"t1": "t1ce", "t1ce": "t1"}

#: what ``select=margin`` counts a margin over a baseline in: a difference worth having
MARGIN_UNITS = {"ssim": 0.02, "psnr": 0.5}


class Pix2Pix(GANTask):
    """Pix2Pix translation (``cfg.pix2pix.target`` one sequence) or imputation (target ``"any"``)."""

    LOGS = ("d_loss", "g_loss", "g_adv", "g_l1", "g_l2", "g_ssim", "d_acc_real", "d_acc_fake")

    def __init__(self, cfg: TrainConfig, meta: dict):
        super().__init__(cfg, meta)
        self.imputation = cfg.pix2pix.imputation
        if self.imputation:
            self.sources, self.target = list(SEQUENCES), ANY
        else:   # names checked by Pix2PixConfig.validate
            self.target = canonical_sequence(cfg.pix2pix.target)
            self.sources = [canonical_sequence(s) for s in cfg.pix2pix.source]
        #: checkpoints/best: the best mean SSIM, or (``select=margin``) the best worst margin over
        #: the baselines of any target and metric, in units of ``MARGIN_UNITS``
        self.SELECT = "val_min_margin" if cfg.pix2pix.select == "margin" else "val_ssim"
        self._val_data: SliceSet | None = None
        self._val_baselines: dict[str, dict[str, float]] = {}
        self._predict = None

    def residual_spec(self) -> list | None:
        """Per output channel (input channel added, availability plane gating it or -1) or None
        (``PARTNERS``); None without ``cfg.pix2pix.residual`` or where no output has its partner as input
        (a target without one is predicted whole)."""
        if not self.cfg.pix2pix.residual:
            return None
        if self.imputation:
            n = len(SEQUENCES)
            return [(SEQUENCES.index(PARTNERS[s]), n + SEQUENCES.index(PARTNERS[s])) if s in PARTNERS else None
                    for s in SEQUENCES]
        partner = PARTNERS.get(self.target)
        return [(self.sources.index(partner), -1)] if partner in self.sources else None

    @property
    def base_inputs(self) -> int:
        """Image inputs of the generator's linear base (``cfg.pix2pix.linear_base``), else 0."""
        return (len(SEQUENCES) if self.imputation else len(self.sources)) if self.cfg.pix2pix.linear_base else 0

    def initialise(self, train: SliceSet) -> None:
        """Fit the linear base's maps on the training slices (``cfg.pix2pix.linear_base``)."""
        if not self.cfg.pix2pix.linear_base:
            return
        if self.imputation:
            inputs = outputs = list(range(len(SEQUENCES)))
        else:
            inputs = [SEQUENCES.index(s) for s in self.sources]
            outputs = [SEQUENCES.index(self.target)]
        table = fit_linear_maps(train.images, train.available, train.brain_mask, inputs, outputs, self.imputation)
        self.generator.base.table.assign(table)

    @property
    def context(self) -> int:
        """Axial neighbours read on each side of a slice (2.5-D; 0: the slice alone)."""
        return self.cfg.pix2pix.context

    @property
    def context_channels(self) -> int:
        """Generator inputs that are neighbouring slices' images."""
        return 2 * self.context * (len(SEQUENCES) if self.imputation else len(self.sources))

    @property
    def in_channels(self) -> int:
        return (2 * len(SEQUENCES) if self.imputation else len(self.sources)) + self.context_channels

    @property
    def out_channels(self) -> int:
        return len(SEQUENCES) if self.imputation else 1

    # -- building --------------------------------------------------------------------------
    def build(self) -> None:
        p = self.cfg.pix2pix
        self.generator = UNetGenerator(self.cfg.image_size, self.in_channels, self.out_channels,
                                       p.unet_depth, p.unet_filters, p.attention, p.dropout,
                                       p.unet_norm, p.unet_input_skip, p.unet_upsampling,
                                       self.residual_spec(), self.base_inputs, self.context_channels,
                                       name="generator")
        self.discriminator = PatchDiscriminator(self.in_channels + self.out_channels, p.d_filters,
                                                p.patch_layers, name="discriminator")
        s = self.cfg.image_size
        cond = tf.zeros([1, s, s, self.in_channels])
        self.discriminator(cond, self.generator(cond))
        self._build_optimizers()
        G = self.generator
        spec = [tf.TensorSpec([None, s, s, self.in_channels])]
        self._predict = tf.function(lambda x: G(x, training=False), input_signature=spec)
        self._sample = tf.function(lambda x: G(x, training=False, sample=True), input_signature=spec)

    # -- data ------------------------------------------------------------------------------
    def batch_spec(self, step: int = 0) -> dict:
        s = self.cfg.image_size
        return {"cond": tf.TensorSpec([None, s, s, self.in_channels], tf.float32),
                "target": tf.TensorSpec([None, s, s, self.out_channels], tf.float32),
                "weight": tf.TensorSpec([None, self.out_channels], tf.float32),
                "lesion": tf.TensorSpec([None, s, s, 1], tf.float32)}

    def train_filter(self, data: SliceSet) -> np.ndarray:
        if self.imputation:
            return data.available.sum(axis=1) >= 2
        return data.has(self.sources + [self.target])

    def source(self, data: SliceSet) -> dict[str, np.ndarray]:
        out = {"images": data.images, "available": data.available, "lesion": data.tumor_mask}
        if self.context:
            out["neighbours"] = data.neighbours(self.context).astype(np.int32)
        return out

    def draw(self, seed, step, n: int, segment: int = 0) -> dict:
        geometry, count, order = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
        draws = self.geometry_draws(geometry, n)
        if self.imputation:
            draws["hide_count"] = tf.random.stateless_uniform([n], count)
            draws["hide_order"] = tf.random.stateless_uniform([n, len(SEQUENCES)], order)
        return draws

    def assemble(self, source, index, draws, segment: int = 0) -> dict:
        images = tf.gather(source["images"], index)
        if self.context:     # [B, 2k] neighbour rows -> their images' blocks after the slice's own
            blocks = tf.gather(source["images"], tf.gather(source["neighbours"], index))
            blocks = tf.transpose(blocks, [0, 2, 3, 1, 4])
            s = self.cfg.image_size
            images = tf.concat([images, tf.reshape(blocks, [-1, s, s, 2 * self.context * len(SEQUENCES)])], -1)
        lesion = tf.cast(tf.gather(source["lesion"], index), tf.float32)[..., None]
        if self.imputation:
            images, lesion = self.transformed(draws, images, lesion)
            available = tf.gather(source["available"], index)
            hidden = hidden_sequences(available, draws["hide_count"], draws["hide_order"],
                                      self.cfg.pix2pix.hide_weights)
            return {"cond": imputation_input(images, available & ~hidden), "target": images[..., :len(SEQUENCES)],
                    "weight": tf.cast(hidden, tf.float32), "lesion": lesion}
        channels = block_channels([SEQUENCES.index(s) for s in self.sources], len(SEQUENCES), self.context)
        pair = tf.gather(images, channels + [SEQUENCES.index(self.target)], axis=3)
        pair, lesion = self.transformed(draws, pair, lesion)
        return {"cond": pair[..., :-1], "target": pair[..., -1:], "weight": tf.ones([tf.shape(index)[0], 1]),
                "lesion": lesion}

    # -- the step --------------------------------------------------------------------------
    def losses(self, batch: dict, out: tf.Tensor, global_batch: int) -> dict:
        """D and G losses (contributions to global means) for generator output ``out``.

        D's fake input keeps the given channels of the target and takes ``out`` where the
        weight is 1, so neither term reaches ``out`` on given channels. With ``adv_lambda = 0``
        D is not run and its figures are 0."""
        cond, target = batch["cond"], batch["target"]
        weight = batch["weight"][:, None, None, :]

        def average(per):
            return tf.nn.compute_average_loss(per, global_batch_size=global_batch)

        p = self.cfg.pix2pix
        g_l1 = average(losses.l1(out, target, weight * (1.0 + p.lesion_weight * batch["lesion"])))
        g_l2 = average(losses.l2(out, target, weight))
        g_ssim = average(losses.ssim_loss(out, target, batch["weight"]))
        logs = {"g_l1": g_l1, "g_l2": g_l2, "g_ssim": g_ssim,
                "g_loss": p.l1_lambda * g_l1 + p.l2_lambda * g_l2 + p.ssim_lambda * g_ssim}
        if not self.adversarial:
            zero = tf.zeros([])
            return {"d_loss": zero, "g_adv": zero, "d_acc_real": zero, "d_acc_fake": zero, **logs}
        fake = target * (1.0 - weight) + out * weight
        logits = self.discriminator(tf.concat([cond, cond], 0), tf.concat([target, fake], 0), training=True)
        real_logits, fake_logits = tf.split(logits, 2)
        g_adv = average(losses.generator_bce(fake_logits))
        logs["g_loss"] += p.adv_lambda * g_adv
        return {"d_loss": average(losses.discriminator_bce(real_logits, fake_logits)), "g_adv": g_adv,
                "d_acc_real": average(losses.accuracy_from_logits(real_logits, True)),
                "d_acc_fake": average(losses.accuracy_from_logits(fake_logits, False)), **logs}

    @property
    def adversarial(self) -> bool:
        return self.cfg.pix2pix.adv_lambda > 0

    def replica_step(self, batch: dict, global_batch: int) -> dict:
        """G runs once; D and G are updated together from the same forward pass (D's gradient
        from its loss on real and fake pairs, G's through D's weights before the update)."""
        G, D = self.generator, self.discriminator
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            logs = self.losses(batch, G(batch["cond"], training=True), global_batch)
        if self.adversarial:
            self._apply(self.d_opt, d_tape, logs["d_loss"], D.trainable_variables)
        self._apply(self.g_opt, g_tape, logs["g_loss"], G.trainable_variables)
        return logs

    # -- inference -------------------------------------------------------------------------
    @property
    def samples_dropout(self) -> bool:
        """Whether :meth:`translate` can draw dropout samples (the generator has dropout)."""
        return bool(self.cfg.pix2pix.dropout)

    def translate(self, images: np.ndarray, available, target: str, sample: bool = False) -> np.ndarray:
        """Synthesize ``target`` for slices [N, S, S, 4] in [-1, 1] (SEQUENCES order, zeros where
        missing; a 2.5-D model: [N, S, S, 4 (2k + 1)] with the neighbours' blocks after the slice's)
        given ``available`` ([4] or [N, 4] bool): [N, S, S] in [-1, 1]; ``sample``: one draw with
        the generator's dropout on (for uncertainty), else its prediction.

        Translation needs its source sequences; imputation uses every available one but the target."""
        from mri_gan.translate_checks import check_translate

        x = check_translate(self, images, available, target)
        if self.imputation:
            cond, channel = imputation_input(x.images, x.given), x.target
        else:
            cond, channel = x.images[..., block_channels(x.channels, len(SEQUENCES), self.context)], 0
        predict = self._sample if sample else self._predict
        out = [predict(tf.constant(cond[i:i + INFER_BATCH])).numpy()[..., channel]
               for i in range(0, len(cond), INFER_BATCH)]
        return np.concatenate(out).astype(np.float32) if out else np.zeros(x.images.shape[:3], np.float32)

    def _pairs(self, data: SliceSet):
        """(target sequence, slice rows) of every validation question the data can answer:
        the target where the sources exist (translation), or each available sequence in turn
        with at least one other (imputation, leave-one-out)."""
        if not self.imputation:
            rows = np.flatnonzero(data.has(self.sources + [self.target]))
            return [(self.target, rows)] if len(rows) else []
        enough = data.available.sum(axis=1) >= 2
        pairs = []
        for c, seq in enumerate(SEQUENCES):
            rows = np.flatnonzero(data.available[:, c] & enough)
            if len(rows):
                pairs.append((seq, rows))
        return pairs

    def validate(self, data: SliceSet) -> dict:
        """SSIM, PSNR and MAE inside the brain mask, per subject then over subjects, and SSIM
        inside the tumour and the lesion contrast where the data has tumour masks; for
        imputation the mean over leave-one-out targets, plus each target's figures."""
        from mri_gan.evaluation.metrics import paired_metrics

        self._val_data = data
        per_target = {}
        for seq, rows in self._pairs(data):
            sub = data.subset(rows)
            pred = self.translate(data.with_context(self.context, rows), sub.available, seq)
            per_target[seq] = paired_metrics(pred, sub.channels([seq])[..., 0], sub.brain_mask,
                                             sub.subjects, lesion=sub.tumor_mask)
        if not per_target:
            return {}
        figures = {name: [value(r) for r in per_target.values() if value(r) is not None]
                   for name, value in VALIDATION_FIGURES.items()}
        out = {f"val_{name}": round(float(np.mean(v)), 5) for name, v in figures.items() if v}
        if self.imputation:
            for seq, r in per_target.items():
                out.update({f"val_{name}_{seq}": round(value(r), 5) for name, value in VALIDATION_FIGURES.items()
                            if value(r) is not None})
        margins = []
        for seq, best in self._val_baselines.items():
            if seq in per_target:
                for metric, value in best.items():
                    margin = per_target[seq][metric]["mean"] - value
                    out[f"val_margin_{metric}_{seq}"] = round(margin, 5)
                    margins.append(margin / MARGIN_UNITS[metric])
        if margins:
            out["val_below_baseline"] = int(sum(m < 0 for m in margins))
            out["val_min_margin"] = round(min(margins), 5)
        return out

    def fit_references(self, train: SliceSet, val: SliceSet) -> None:
        """The best baseline SSIM and PSNR per validation target (identity and linear map of each
        other sequence, their multi-input regression; fitted on ``train``): ``validate`` logs the
        model's margin over them (``val_margin_ssim_<target>``) and how many are negative."""
        from mri_gan.evaluation.baselines import baseline_predictions
        from mri_gan.evaluation.metrics import paired_metrics

        self._val_baselines = {}
        train_rows = dict(self._pairs(train))
        for seq, rows in self._pairs(val):
            if seq not in train_rows:
                continue
            fit, sub = train.subset(train_rows[seq]), val.subset(rows)
            sources = self._baseline_sources(seq, sub, fit)
            if not sources:
                continue
            preds = baseline_predictions(fit.channels(sources), fit.channels([seq]), fit.brain_mask,
                                         sub.channels(sources), sources)
            scores = [paired_metrics(p, sub.channels([seq])[..., 0], sub.brain_mask, sub.subjects)
                      for name, p in preds.items() if name != "mean_image"]
            self._val_baselines[seq] = {m: max(r[m]["mean"] for r in scores) for m in ("ssim", "psnr")}

    def _baseline_sources(self, seq: str, val: SliceSet, train: SliceSet) -> list[str]:
        """The sequences a baseline for ``seq`` reads: the run's sources (translation), or the
        other sequences present in every validation and training slice of it (imputation)."""
        if not self.imputation:
            return list(self.sources)
        return [s for s in SEQUENCES if s != seq and val.has([s]).all() and train.has([s]).all()]

    def sample_grid(self, data: SliceSet, seed: int) -> np.ndarray:
        """Rows of source | synthesized | real target | |error| on validation slices once
        validation has run (else on ``data``); imputation rows hide one sequence each in turn."""
        data = self._val_data if self._val_data is not None and len(self._val_data) else data
        pairs = self._pairs(data)
        if not pairs:
            return -np.ones((data.size, 4 * data.size), np.float32)
        rng = np.random.default_rng([seed, 5])
        tiles = []
        for k in range(4):
            seq, rows = pairs[k % len(pairs)]
            i = int(rng.choice(rows))
            image, have = data.images[i:i + 1], data.available[i]
            pred = self.translate(data.with_context(self.context, [i]), have, seq)[0]
            real = image[0, ..., SEQUENCES.index(seq)]
            shown = [s for s in self.sources if have[SEQUENCES.index(s)] and s != seq][0]
            tiles += [image[0, ..., SEQUENCES.index(shown)], pred, real, np.abs(pred - real) - 1.0]
        return tile(np.stack(tiles), 4)
