"""Evaluation of a generative run (DCGAN, cDCGAN, PGGAN) against the real held-out subjects (val +
test of split.json; a generative run trains on neither):

- distribution: FID, KID, precision / recall / density / coverage through a named feature
  network, and the same numbers for the real training images (what copying the training set
  would score, the floor of any synthetic set);
- two-sample test: real vs synthetic, trained on training subjects, tested on held-out ones;
- downstream: a tumour / no-tumour classifier trained (a) on the real imbalanced training split,
  (b) on it plus synthetic images that balance the classes, (c) on synthetic images only, tested
  on the held-out real images, over several seeds.

With style transfer, each stylized image starts from a real training-split image of the same
class (content) and takes on a generated one's statistics (style), the paper's pairing.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from mri_gan.data.records import binary_label
from mri_gan.errors import UserError
from mri_gan.evaluation import classifiers, feature_networks, metrics
from mri_gan.evaluation.budgets import Budget
from mri_gan.evaluation.examples import spread
from mri_gan.evaluation.style_inputs import STYLIZE_DEFINITION, StylePlan, run_style
from mri_gan.style import output

HIST_BINS = 64

DEFINITIONS = {
    "held_out": "real slices of the val and test subjects of the run's split.json (never trained on)",
    "style_generative": "Gatys style transfer (mri_gan.style.transfer): the image starts from a real "
                        "training-split slice of the same class (content) and moves toward the Gram "
                        "statistics of a generated image (style)",
    "distribution_reference": "the same distribution metrics for real training-split images against the "
                              "held-out ones: what copying the training set would score",
}


def _binary_index(name: str) -> int:
    return ["no_tumor", "tumor"].index(binary_label(name))


@dataclass
class Synthetic:
    """Generated images [P, H, W, 1] with run-class labels (-1 unconditional) and tumour /
    no-tumour labels (-1 unknown)."""

    images: np.ndarray
    run_labels: np.ndarray
    binary: np.ndarray

    def take(self, index) -> Synthetic:
        return Synthetic(self.images[index], self.run_labels[index], self.binary[index])


def _synthetic_pool(task, per_binary: dict[int, int], unconditional: int, seed: int) -> Synthetic:
    """Generate ``per_binary[b]`` images of tumour class b (shared by the run classes that map to
    it), or ``unconditional`` images without class."""
    rng = np.random.default_rng([seed, 21])
    n_classes = int(getattr(task, "num_classes", 0) or 0)
    if not n_classes:
        images = task.generate(task.noise(rng, unconditional), None)
        return Synthetic(images[..., :1], np.full(unconditional, -1, np.int32), np.full(unconditional, -1, np.int32))
    groups = [_binary_index(n) for n in task.meta["label_names"]]
    counts = [max(1, -(-per_binary.get(g, 0) // groups.count(g))) for g in groups]
    labels = np.repeat(np.arange(n_classes, dtype=np.int32), counts)
    images = task.generate(task.noise(rng, len(labels)), labels)
    return Synthetic(images[..., :1], labels, np.array([groups[c] for c in labels], np.int32))


def _capped(synthetic: Synthetic, cap: int) -> np.ndarray:
    """At most ``cap`` indices, shared evenly by the tumour classes (the first of each class)."""
    if len(synthetic.images) <= cap:
        return np.arange(len(synthetic.images))
    classes = np.unique(synthetic.binary)
    share = -(-cap // len(classes))
    return np.sort(np.concatenate([np.flatnonzero(synthetic.binary == c)[:share] for c in classes]))[:cap]


def _balanced_subset(labels: np.ndarray) -> np.ndarray:
    """Indices with the same count of every class present (the first of each)."""
    classes = np.unique(labels[labels >= 0])
    n = min(int((labels == c).sum()) for c in classes)
    return np.sort(np.concatenate([np.flatnonzero(labels == c)[:n] for c in classes]))


def _matched(pool_labels: np.ndarray, real_labels: np.ndarray, seed: int) -> np.ndarray:
    """Pool indices whose class shares follow the real set's (all indices when unconditional)."""
    if (pool_labels < 0).all() or (real_labels < 0).all():
        return np.arange(len(pool_labels))
    classes = np.unique(real_labels[real_labels >= 0])
    share = np.array([(real_labels == c).mean() for c in classes])
    have = np.array([(pool_labels == c).sum() for c in classes])
    scale = min(have[share > 0] / share[share > 0])
    rng = np.random.default_rng([seed, 23])
    picks = [rng.permutation(np.flatnonzero(pool_labels == c))[:int(round(scale * s))]
             for c, s in zip(classes, share)]
    return np.sort(np.concatenate(picks)).astype(int)


def _projection(reference: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """2-D PCA coordinates (axes fitted on ``reference``) of each activation set."""
    mean = reference.mean(axis=0)
    _, _, vt = np.linalg.svd(reference - mean, full_matrices=False)
    axes = vt[:2].T
    return [((a - mean) @ axes).astype(np.float32) for a in (reference, *others)]


def _histogram(images: np.ndarray) -> np.ndarray:
    """Density of [0, 1] intensities over all pixels in HIST_BINS bins."""
    values = metrics.to_unit_range(images).ravel()
    counts, _ = np.histogram(values, bins=HIST_BINS, range=(0.0, 1.0), density=True)
    return counts.astype(np.float32)


def _safe(fn, *args, **kwargs) -> dict:
    """A metric, or {"skipped": reason} when the data cannot support it (singular-covariance warnings
    of FID on fewer samples than features are expected and silenced)."""
    from scipy.linalg import LinAlgWarning

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LinAlgWarning)
            return fn(*args, **kwargs)
    except (UserError, ValueError) as err:
        return {"skipped": str(err)}


def _generative_metrics(real: dict, fake: Synthetic, run_held: np.ndarray, feature, budget: Budget,
                        seed: int) -> tuple[dict, np.ndarray, np.ndarray]:
    """Distribution, two-sample and downstream metrics of one synthetic set; also the held-out
    and synthetic activations and the indices of the class-matched synthetic images."""
    run, net_name, net_desc = feature
    matched = _matched(fake.run_labels, run_held, seed)
    fake_m = fake.images[matched]
    act_real = feature_networks.feature_activations(real["held"], run)
    act_fake = feature_networks.feature_activations(fake_m, run)
    k = max(1, min(5, len(act_real) - 1, len(act_fake) - 1))
    dist = _safe(metrics.compare_activations, act_real, act_fake, net_name, k=k,
                 kid_subsets=budget.kid_subsets, seed=seed, feature_network_definition=net_desc)
    half = np.arange(len(fake_m)) % 2
    two = _safe(classifiers.two_sample_test, real["train"], fake_m[half == 0], real["held"], fake_m[half == 1],
                seed=seed, budget=budget.two_sample)
    train_ok, held_ok = real["train_y"] >= 0, real["held_y"] >= 0
    labelled = np.flatnonzero(fake.binary >= 0)
    down = {}
    for mode in ("real", "real+synthetic", "synthetic"):
        extra = {}
        if mode != "real":
            if not len(labelled):
                down[mode] = {"skipped": "the synthetic images have no class (unconditional model, or a "
                                         "stylize output whose style images carry no labels)"}
                continue
            pick = labelled if mode == "real+synthetic" else labelled[_balanced_subset(fake.binary[labelled])]
            extra = {"synthetic_x": fake.images[pick], "synthetic_y": fake.binary[pick]}
        down[mode] = _safe(classifiers.downstream, real["train"][train_ok], real["train_y"][train_ok],
                           real["held"][held_ok], real["held_y"][held_ok], seeds=budget.seeds, mode=mode,
                           budget=budget.classifier, **extra)
    return {"distribution": dist, "two_sample": two, "downstream": down}, (act_real, act_fake), matched


def evaluate_generative(task, cfg, data, split, budget: Budget, plan: StylePlan, seed: int,
                        feature_network: str, vgg_weights: str) -> tuple[dict, dict, dict]:
    """The metrics of a generative run against the held-out subjects of ``data``, the arrays of the
    report's figures and the style losses per iteration."""
    seq = cfg.family.sequences[0]
    usable = data.has([seq])
    train = data.subset(usable & np.isin(data.subjects, split["train"]))
    held = data.subset(usable & np.isin(data.subjects, list(split["val"]) + list(split["test"])))
    if not len(held) or not len(train):
        raise UserError(data.source, f"the run's split leaves {len(train)} training and {len(held)} held-out "
                                     f"slices with {seq} in this source")
    real = {"train": train.channels([seq]), "held": held.channels([seq]),
            "train_y": train.binary_labels()[0], "held_y": held.binary_labels()[0]}
    conditional = bool(getattr(task, "num_classes", 0))
    run_held = task.labels_of(held) if conditional else np.full(len(held), -1, np.int32)
    counts = {b: int((real["train_y"] == b).sum()) for b in (0, 1)}
    # as many synthetic as real slices, so the two-sample test learns from both sides alike
    per_binary = {b: max(budget.per_class, max(counts.values()) - n, n + int((real["held_y"] == b).sum()))
                  for b, n in counts.items()}
    pool = _synthetic_pool(task, per_binary, max(2 * budget.per_class, len(train) + len(held)), seed)

    feature_labels = train.labels if len(set(train.labels[train.labels >= 0].tolist())) >= 2 else real["train_y"]
    feature = feature_networks.choose(feature_network, vgg_weights, real["train"], feature_labels, seed,
                                      budget.classifier)
    without, (act_real, act_fake), matched = _generative_metrics(real, pool, run_held, feature, budget, seed)
    act_train = feature_networks.feature_activations(real["train"][spread(len(real["train"]), len(matched))],
                                                     feature[0])
    reference = _safe(metrics.compare_activations, act_real, act_train, feature[1],
                      k=max(1, min(5, len(act_train) - 1, len(act_real) - 1)), kid_subsets=budget.kid_subsets,
                      seed=seed)
    reference.pop("definitions", None)
    without["distribution_reference"] = dict(reference, definition=DEFINITIONS["distribution_reference"])
    names = task.meta["label_names"]
    without["synthetic"] = {
        "generated": len(pool.images), "matched_to_held_out_classes": len(matched),
        "per_class": {names[c]: int((pool.run_labels == c).sum())
                      for c in np.unique(pool.run_labels[pool.run_labels >= 0])},
        "definition": f"generated with seed {seed}: per tumour class the largest of {budget.per_class}, what "
                      "balances the training split and the count of its real slices; the distribution metrics "
                      "and the two-sample test use the images whose class shares follow the held-out set's, "
                      "(b) all of them, (c) a class-balanced subset"}
    without["classes"] = {"downstream": ["no_tumor", "tumor"],
                          **{name: {"no_tumor": int((real[f"{part}_y"] == 0).sum()),
                                    "tumor": int((real[f"{part}_y"] == 1).sum())}
                             for name, part in (("train", "train"), ("held_out", "held"))}}
    without["split"] = DEFINITIONS["held_out"]

    style_losses: dict = {}
    styled = None
    if plan.folder is not None:
        read, style_losses, settings = output.read(plan.folder, cfg.image_size)
        labels = output.style_labels(settings, read["style_index"]) if conditional else None
        run_labels = labels if labels is not None else np.full(len(read["stylized"]), -1, np.int32)
        binary = np.array([_binary_index(names[c]) if c >= 0 else -1 for c in run_labels], np.int32)
        styled = Synthetic(read["stylized"], run_labels, binary)
        content, style = read["content"], read["style"]
    elif plan.weights is not None:
        source = pool.take(_capped(pool, budget.style_images))
        content = _content_for(real["train"], task.labels_of(train) if conditional else None, source.run_labels, seed)
        images, style_losses, settings = run_style(content, source.images, plan.weights, budget.style_steps, seed)
        styled, style = Synthetic(images, source.run_labels, source.binary), source.images
    else:
        settings = {"reason": plan.reason}
    settings["definition"] = STYLIZE_DEFINITION if plan.folder is not None else DEFINITIONS["style_generative"]
    out = dict(without, style=dict(settings, applied=styled is not None))
    arrays = {"real": real["held"][spread(len(real["held"]), 8), ..., 0],
              "synthetic": pool.images[matched][spread(len(matched), 8), ..., 0],
              "hist_real": _histogram(real["held"]), "hist_synthetic": _histogram(pool.images[matched])}
    acts = [act_fake]
    if styled is not None:
        out["with_style"], (_, act_styled), styled_matched = _generative_metrics(real, styled, run_held, feature,
                                                                                  budget, seed)
        acts.append(act_styled)
        pick = spread(len(styled.images), 8)
        arrays.update(stylized=styled.images[pick, ..., 0], content=content[pick, ..., 0], style=style[pick, ..., 0],
                      hist_stylized=_histogram(styled.images[styled_matched]))
    projections = _projection(act_real, *acts)
    arrays["proj_real"], arrays["proj_synthetic"] = projections[0], projections[1]
    if len(projections) > 2:
        arrays["proj_stylized"] = projections[2]
    return out, arrays, style_losses


def _content_for(real_train: np.ndarray, train_labels, pool_labels: np.ndarray, seed: int) -> np.ndarray:
    """A real training image for each generated one, of the same class when both have one."""
    rng = np.random.default_rng([seed, 29])
    idx = rng.integers(0, len(real_train), len(pool_labels))
    if train_labels is not None:
        for c in np.unique(pool_labels[pool_labels >= 0]):
            same = np.flatnonzero(train_labels == c)
            rows = np.flatnonzero(pool_labels == c)
            if len(same):
                idx[rows] = rng.choice(same, len(rows))
    return real_train[idx]
