"""The embedded multi-contrast phantom: brain MRI rendered from the MNI152 2009 templates.

Anatomy: the MNI152 2009 symmetric T1, grey- and white-matter maps that the nilearn wheel ships
(never downloaded); brain = the filled support of the T1 template, CSF = brain - GM - WM.
Contrast: spin-echo (T1w, T2w) and inversion-recovery (FLAIR) signal equations summed over the
tissue fractions (partial volume), with per-subject T1 / T2 / PD and timings drawn from the
ranges in docs/phantom.md; gadolinium shortens T1 in the enhancing rim for T1ce. Subjects differ by a
small affine and a smooth elastic deformation shared by their four sequences, a multiplicative
bias field, Rician noise, slice positions and, for about half of them, a lobulated tumour
(necrotic core, enhancing rim, oedema spreading in white matter, mass effect).

Volumes use the BraTS layout: array axes (i, j, k) run towards patient left, posterior and
superior (LPS affine); a record's 2-D image is ``volume[:, :, k].T`` (anterior up, patient right
on the image left). Everything is deterministic by seed; :func:`build_phantom` caches its arrays
under ``$MRI_GAN_CACHE/phantom`` (default ``~/.cache/mri_gan/phantom``).

The templates and sampling grid live in ``phantom_anatomy``, the drawn subjects and the signal
equations in ``phantom_subjects``; this module renders them into volumes and slice sets.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from scipy import ndimage

from mri_gan.atomic import atomic_file, atomic_folder
from mri_gan.data import phantom_anatomy, phantom_subjects, preprocess
from mri_gan.data.phantom_anatomy import Grid, sampling_grid, templates
from mri_gan.data.phantom_subjects import R1_GADOLINIUM, TISSUES, Subject, draw_subject, has_tumour, tissue_signal
from mri_gan.data.preprocess import robust_scale
from mri_gan.data.reader import Reader
from mri_gan.data.records import NO_TUMOR, SEQUENCES, TUMOR, Record
from mri_gan.errors import UserError

SIGNAL_SCALE = 1000.0          # raw volumes in scanner-like units
SEG_LABELS = (0, 1, 2, 4)      # background, necrotic core, oedema, enhancing (BraTS)
QUANT = 65535.0                # slice sets store images as uint16 steps of 1 / QUANT


def _sigmoid(x, width):
    return 0.5 * (1.0 + np.tanh(x / width))


# ----------------------------------------------------------------------------- rendering

def _render(subject: Subject, grid: Grid, ks) -> dict:
    """Raw signals, masks and tissue fractions of the axial planes ``ks``.

    Arrays are [len(ks), size, size], indexed (k, i, j). Only points that land in the template's
    brain box are computed.
    """
    xs, ys, zs = grid.axes(ks)
    shape = (len(zs), grid.size, grid.size)
    c = templates().centre
    rel = (xs[None, :, None] - c[0], ys[None, None, :] - c[1], zs[:, None, None] - c[2])
    disp = subject.elastic.onsampling_grid(xs, ys, zs)
    q = np.stack([c[a] + subject.shift[a] + sum(subject.rotation[a, b] * rel[b] for b in range(3)) + disp[a]
                  for a in range(3)]).astype(np.float32).reshape(3, -1)
    tumour = subject.tumour
    if tumour is not None:   # mass effect: tissue near the lesion is pushed outwards
        centre = tumour.centre.astype(np.float32)[:, None]
        off = q - centre
        dist = np.maximum(np.sqrt((off ** 2).sum(0)), 1e-3)
        q = centre + off * (1.0 - tumour.mass * np.exp(-(dist / (1.5 * tumour.radius)) ** 2))
    lo, hi = templates().box
    sel = np.flatnonzero(((q >= lo[:, None]) & (q <= hi[:, None])).all(0))
    points = q[:, sel] / grid.map_spacing
    gm, wm, brain = (ndimage.map_coordinates(m, points, order=1, mode="constant", cval=0.0, output=np.float32)
                     for m in grid.maps)
    brain = np.clip(brain, 0.0, 1.0)
    gm, wm = np.clip(gm, 0.0, None), np.clip(wm, 0.0, None)
    over = np.maximum((gm + wm) / np.maximum(brain, 1e-6), 1.0)
    gm, wm = gm / over, wm / over
    csf = np.clip(brain - gm - wm, 0.0, 1.0)
    necrosis, enhancing, oedema, gad = (np.zeros_like(brain) for _ in range(4))
    if tumour is not None:
        near = np.flatnonzero(dist[sel] < tumour.reach)
        d = dist[sel][near]
        r_rim, r_core, r_oed, gad[near] = tumour.borders(off[:, sel[near]], d)
        inside = np.zeros_like(brain)
        inside[near] = _sigmoid(r_rim - d, 0.5 * grid.spacing)
        necrosis[near] = _sigmoid(r_core - d, 0.5 * grid.spacing) * brain[near]
        enhancing = inside * brain - necrosis
        spread = np.zeros_like(brain)
        outside = np.maximum(1.0 - inside[near], 1e-6)   # oedema: share of the tissue left around the tumour
        spread[near] = np.clip((_sigmoid(r_oed - d, 3.0) - inside[near]) / outside, 0.0, 1.0)
        wm, gm, csf = wm * (1.0 - inside), gm * (1.0 - inside), csf * (1.0 - inside)
        oedema = spread * (wm + 0.4 * gm)
        wm, gm = wm * (1.0 - spread), gm * (1.0 - 0.4 * spread)
    fractions = np.stack([wm, gm, csf, necrosis, enhancing, oedema])
    in_brain = brain >= 0.5
    keep = sel[in_brain]
    label = np.argmax(np.stack([wm + gm + csf, necrosis, oedema, enhancing])[:, in_brain], axis=0)
    seg = np.zeros(q.shape[1], np.uint8)
    seg[keep] = np.array(SEG_LABELS, np.uint8)[label]
    brain_mask = np.zeros(q.shape[1], bool)
    brain_mask[keep] = True

    bias = np.exp(subject.bias.onsampling_grid(xs, ys, zs).reshape(5, -1)[:, keep])
    counts = np.bincount(keep // (grid.size * grid.size), minlength=len(zs))
    noise = np.concatenate([np.random.default_rng([subject.seed, 2, int(k)]).standard_normal(
        (len(SEQUENCES), 2, n), dtype=np.float32) for k, n in zip(ks, counts)], axis=-1)
    parts = fractions[:, in_brain]
    images = {}
    for n, seq in enumerate(SEQUENCES):
        per_tissue = np.array([tissue_signal(seq, *subject.tissues[t], subject.timing) for t in TISSUES],
                              np.float32)
        signal = per_tissue @ parts
        if seq == "t1ce" and tumour is not None:   # gadolinium: 1/T1' = 1/T1 + r1 C in the rim
            t1, t2, pd = subject.tissues["enhancing"]
            t1_gd = 1.0 / (1.0 / t1 + R1_GADOLINIUM * gad[in_brain])
            signal += parts[4] * (tissue_signal(seq, t1_gd, t2, pd, subject.timing) - per_tissue[4])
        signal *= bias[0] * bias[1 + n]
        sigma = subject.noise[seq] * float(per_tissue[:2].mean())
        image = np.zeros(q.shape[1], np.float32)
        image[keep] = np.hypot(signal + sigma * noise[n, 0], sigma * noise[n, 1]) * SIGNAL_SCALE
        images[seq] = image.reshape(shape)
    full = np.zeros((len(TISSUES), q.shape[1]), np.float32)
    full[:, sel] = fractions
    return {"images": images, "brain_mask": brain_mask.reshape(shape), "segmentation": seg.reshape(shape),
            "fractions": dict(zip(TISSUES, full.reshape(len(TISSUES), *shape)))}


def phantom_volume(seed: int, tumor: bool | None = None, size: int = 128) -> dict:
    """One subject's 3-D volumes (BraTS layout, LPS, raw scanner-like intensities).

    Returns ``images`` {sequence: float32 [size, size, nz]}, ``brain_mask`` and ``tumor_mask``
    (bool, whole lesion incl. oedema), ``segmentation`` (uint8 BraTS labels 0/1/2/4),
    ``fractions`` {tissue: float32}, ``affine`` (4x4) and ``tumor`` (bool). ``tumor=None``
    draws the presence from the seed (probability 1/2).
    """
    tumour = has_tumour(seed) if tumor is None else bool(tumor)
    grid = sampling_grid(int(size))
    out = _render(draw_subject(int(seed), tumour), grid, np.arange(grid.nz))
    seg = _to_ijk(out["segmentation"])
    return {"images": {s: _to_ijk(v) for s, v in out["images"].items()},
            "brain_mask": _to_ijk(out["brain_mask"]), "tumor_mask": seg > 0, "segmentation": seg,
            "fractions": {t: _to_ijk(v) for t, v in out["fractions"].items()},
            "affine": grid.affine, "tumor": tumour}


def _to_ijk(planes: np.ndarray) -> np.ndarray:
    """Rendered planes (k, i, j) as a volume (i, j, k)."""
    return np.ascontiguousarray(planes.transpose(1, 2, 0))


def write_phantom_case(directory, seed: int = 0, name: str = "phantom-000", size: int = 128) -> Path:
    """Write one phantom subject as a BraTS-2020-named case folder (``<name>_t1.nii.gz`` ... ``_seg``).

    Written into a temporary folder and renamed, replacing an existing case of that name.
    """
    import nibabel as nib

    volume = phantom_volume(seed, size=size)
    final = Path(directory) / name
    with atomic_folder(final, overwrite=True) as staging:
        arrays = {**volume["images"], "seg": volume["segmentation"]}
        for key, data in arrays.items():
            image = nib.Nifti1Image(data, volume["affine"])
            image.set_qform(volume["affine"], code=1)
            image.header.set_xyzt_units("mm")
            nib.save(image, staging / f"{name}_{key}.nii.gz")
    return final


# ----------------------------------------------------------------------------- slice sets

def _pick_slices(subject: Subject, grid: Grid, count: int) -> np.ndarray:
    """``count`` distinct axial indices among the brain slices; near the lesion for tumour subjects."""
    lo, hi = grid.brain_slices
    candidates = np.arange(lo, hi + 1)
    if count > len(candidates):
        raise UserError("phantom", f"slices={count} is more than the {len(candidates)} axial positions "
                                   f"that contain brain at size={grid.size}")
    rng = np.random.default_rng([subject.seed, 3, count])
    tumour = subject.tumour
    if tumour is not None:   # lesion centre in output space, up to the elastic part
        c = templates().centre
        centre = c + np.linalg.solve(subject.rotation, tumour.centre - c - subject.shift)
        kc = grid.k_of(centre[2])
        near = candidates[np.argsort(np.abs(candidates - kc), kind="stable")]
        within = int((np.abs(candidates - kc) <= 0.75 * tumour.radius / grid.spacing).sum())
        candidates = near[:max(count, within)]
    return np.sort(rng.choice(candidates, size=count, replace=False))


def _subject_seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint32)[0] >> 1)


def _build(subjects: int, seed: int, size: int, slices: int) -> dict:
    """The stored form of a phantom slice set (images quantised to uint16)."""
    grid = sampling_grid(size)
    with_tumour = np.random.default_rng([seed, 5]).permutation(np.arange(subjects) < (subjects + 1) // 2)
    images, brain, seg, subject_index, slice_index, seeds = [], [], [], [], [], []
    for i in range(subjects):
        subject = draw_subject(_subject_seed(seed, i), bool(with_tumour[i]))
        ks = _pick_slices(subject, grid, slices)
        out = _render(subject, grid, ks)
        mask = out["brain_mask"]
        scaled = np.stack([robust_scale(out["images"][s], mask)[0] for s in SEQUENCES], axis=1)
        images.append(np.round(scaled.transpose(0, 1, 3, 2) * QUANT).astype(np.uint16))   # [slices, 4, j, i]
        brain.append(mask.transpose(0, 2, 1))
        seg.append(out["segmentation"].transpose(0, 2, 1))
        subject_index += [i] * slices
        slice_index += list(ks)
        seeds.append(subject.seed)
    return {"images": np.concatenate(images), "brain_mask": np.concatenate(brain),
            "segmentation": np.concatenate(seg), "subject": np.array(subject_index, np.int32),
            "slice_index": np.array(slice_index, np.int32), "phantom_seed": np.array(seeds, np.int64),
            "subject_tumor": with_tumour}


def cache_dir() -> Path:
    """Where phantom builds are cached: ``$MRI_GAN_CACHE/phantom`` or ``~/.cache/mri_gan/phantom``."""
    root = os.environ.get("MRI_GAN_CACHE")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "mri_gan") / "phantom"


def _cache_path(options: dict) -> Path:
    """``<hash of the phantom's and preprocess's code>-<hash of the options>.npz``."""
    code = hashlib.sha256(b"".join(Path(module.__file__).read_bytes() for module in
                                   (phantom_anatomy, phantom_subjects, preprocess))
                          + Path(__file__).read_bytes()).hexdigest()[:12]
    key = hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:12]
    return cache_dir() / f"{code}-{key}.npz"


def _load_cached(path: Path) -> dict | None:
    try:
        with np.load(path) as stored:
            return {key: stored[key] for key in stored.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None   # missing or damaged: rebuilt by the caller


def build_phantom(subjects: int = 40, seed: int = 0, size: int = 128, slices: int = 8,
                  cache: bool = True) -> dict:
    """The phantom slice set as arrays, from the disk cache when present.

    ``images`` [N, 4, size, size] float32 in [0, 1] (channels = SEQUENCES, each subject's slices
    robustly scaled inside its brain, in steps of 1/65535), ``brain_mask`` / ``tumor_mask``
    [N, size, size] bool, ``segmentation`` uint8 (BraTS labels 0/1/2/4), ``subject`` and
    ``slice_index`` [N] int32, ``phantom_seed`` and ``subject_tumor`` per subject
    (``phantom_volume(phantom_seed[i], subject_tumor[i])`` is subject i's volume).
    """
    options = {"subjects": int(subjects), "seed": int(seed), "size": int(size), "slices": int(slices)}
    path = _cache_path(options)
    stored = _load_cached(path) if cache else None
    if stored is None:
        stored = _build(**options)
        if cache:
            try:
                with atomic_file(path, overwrite=True) as tmp:
                    np.savez(tmp, **stored)
                code = path.name.split("-")[0]
                for stale in path.parent.glob("[!.]*.npz"):   # builds of other code versions
                    if not stale.name.startswith(code + "-"):
                        stale.unlink(missing_ok=True)
            except (OSError, UserError):
                pass   # the cache is an optimisation only
    arrays = dict(stored, images=stored["images"].astype(np.float32) / QUANT)
    arrays["tumor_mask"] = arrays["segmentation"] > 0
    return arrays


class PhantomReader(Reader):
    """``phantom?subjects=40&seed=0&size=128&slices=8``: the embedded multi-contrast phantom."""

    kind = "phantom"
    OPTIONS = {"subjects": (int, 40), "seed": (int, 0), "size": (int, 128), "slices": (int, 8)}
    LIMITS = {"subjects": (1, 100_000), "seed": (0, 2 ** 31 - 1), "size": (16, 512), "slices": (1, 512)}

    def __init__(self, path=None, options=None, strict: bool = False, source: str = ""):
        super().__init__(None, options, strict=strict, source=source or "phantom")
        if path is not None and str(path) not in ("", "."):
            raise UserError(self.source, "the phantom source takes no path (write phantom?key=value)")
        for key, (lo, hi) in self.LIMITS.items():
            if not lo <= self.options[key] <= hi:
                raise UserError(self.source, f"option {key}={self.options[key]} is outside [{lo}, {hi}]")

    def records(self) -> Iterator[Record]:
        try:
            data = build_phantom(**self.options)
        except UserError as err:
            raise UserError(self.source, err.problem) from None
        for n in range(len(data["images"])):
            i = int(data["subject"][n])
            tumour = data["tumor_mask"][n]
            yield Record(subject=f"phantom-{i:03d}", slice_index=int(data["slice_index"][n]),
                         images={s: data["images"][n, c] for c, s in enumerate(SEQUENCES)},
                         label=TUMOR if tumour.any() else NO_TUMOR, brain_mask=data["brain_mask"][n],
                         tumor_mask=tumour, source_file="phantom",
                         extra={"phantom_seed": int(data["phantom_seed"][i]),
                                "segmentation": data["segmentation"][n]})
