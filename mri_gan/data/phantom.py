"""The embedded multi-contrast phantom: brain MRI rendered from the MNI152 2009 templates.

Anatomy: the MNI152 2009 symmetric T1, grey- and white-matter maps that the nilearn wheel ships
(never downloaded); brain = the filled support of the T1 template, CSF = brain - GM - WM.
Contrast: spin-echo (T1w, T2w) and inversion-recovery (FLAIR) signal equations summed over the
tissue fractions (partial volume), with per-subject T1 / T2 / PD and timings drawn from the
ranges in PHANTOM.md; gadolinium shortens T1 in the enhancing rim for T1ce. Subjects differ by a
small affine and a smooth elastic deformation shared by their four sequences, a multiplicative
bias field, Rician noise, slice positions and, for about half of them, a lobulated tumour
(necrotic core, enhancing rim, oedema spreading in white matter, mass effect).

Volumes use the BraTS layout: array axes (i, j, k) run towards patient left, posterior and
superior (LPS affine); a record's 2-D image is ``volume[:, :, k].T`` (anterior up, patient right
on the image left). Everything is deterministic by seed; :func:`build_phantom` caches its arrays
under ``$MRI_GAN_CACHE/phantom`` (default ``~/.cache/mri_gan/phantom``).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from scipy import ndimage

from mri_gan.atomic import atomic_file, atomic_folder
from mri_gan.data import preprocess
from mri_gan.data.preprocess import robust_scale
from mri_gan.data.records import NO_TUMOR, SEQUENCES, TUMOR, Record
from mri_gan.data.reader import Reader
from mri_gan.errors import UserError

TEMPLATE_FILES = {name: f"mni_icbm152_{name}_tal_nlin_sym_09a_converted.nii.gz"
                  for name in ("t1", "gm", "wm")}

#: in-plane field of view (mm); the voxel size is FOV_MM / size
FOV_MM = 220.0
#: brain slices: axial planes whose template brain area is at least this fraction of the largest
SLICE_AREA_FRACTION = 0.3

TISSUES = ("wm", "gm", "csf", "necrosis", "enhancing", "oedema")
#: tissue -> uniform ranges of (T1 ms, T2 ms, PD) at 3 T (PHANTOM.md). Oedema T1 is shifted to the
#: upper part of the reported range (1500-1800 ms) and tumour PD to the lower part, so that oedema
#: and solid tumour stay iso- to hypointense on T1w spin echo, as in patients.
TISSUE_RANGES = {
    "wm": ((1000, 1150), (65, 80), (0.66, 0.72)),
    "gm": ((1600, 1800), (90, 110), (0.77, 0.83)),
    "csf": ((4000, 4500), (1800, 2200), (1.0, 1.0)),
    "necrosis": ((2500, 3500), (300, 800), (0.90, 0.95)),
    "enhancing": ((1600, 2000), (120, 200), (0.82, 0.86)),
    "oedema": ((1500, 1800), (130, 200), (0.83, 0.88)),
}
#: sequence -> timing ranges (ms); t1ce reuses the t1 timing
TIMING_RANGES = {
    "t1": {"tr": (500, 600), "te": (10, 15)},
    "t2": {"tr": (4000, 6000), "te": (90, 110)},
    "flair": {"tr": (8500, 9500), "te": (100, 120)},
}
#: FLAIR inversion time nulls CSF of a T1 within this factor of the subject's (protocol tuning)
FLAIR_TUNING = (0.97, 1.03)
R1_GADOLINIUM = 4e-3          # relaxivity, 1 / (ms mM)
GADOLINIUM_MM = (0.1, 0.5)    # concentration in the enhancing rim
NOISE_FRACTION = (0.01, 0.025)  # Rician sigma / mean GM-WM signal
SIGNAL_SCALE = 1000.0          # raw volumes in scanner-like units
SEG_LABELS = (0, 1, 2, 4)      # background, necrotic core, oedema, enhancing (BraTS)
QUANT = 65535.0                # slice sets store images as uint16 steps of 1 / QUANT


# ----------------------------------------------------------------------------- templates

def _template_dir() -> Path:
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("phantom", "nilearn is not installed (its wheel ships the MNI152 templates)")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


@dataclass(frozen=True)
class _Templates:
    gm: np.ndarray          # uint8 [0, 255], template voxels (1 mm, RAS)
    wm: np.ndarray
    brain: np.ndarray       # bool
    centre: np.ndarray      # brain bounding-box centre (template mm)
    box: tuple              # (low, high) corners of the brain bounding box, 2 mm margin
    z_range: tuple          # brain extent along z (template mm, inclusive)
    slice_range: tuple      # z range of brain slices (SLICE_AREA_FRACTION)
    tumour_sites: np.ndarray  # [M, 3] candidate tumour centres (deep white matter)


@functools.lru_cache(maxsize=1)
def _templates() -> _Templates:
    import nibabel as nib

    folder = _template_dir()
    arrays = {}
    for name, file in TEMPLATE_FILES.items():
        try:
            arrays[name] = np.asarray(nib.load(folder / file).dataobj, dtype=np.uint8)
        except (OSError, ValueError) as err:
            raise UserError(folder / file, f"cannot read the MNI152 template: {err}") from None
    brain = ndimage.binary_fill_holes(arrays["t1"] > 0)
    extent = [np.flatnonzero(brain.any(axis=tuple(a for a in range(3) if a != ax))) for ax in range(3)]
    centre = np.array([(e[0] + e[-1]) / 2.0 for e in extent])
    area = brain.sum(axis=(0, 1))
    big = np.flatnonzero(area >= SLICE_AREA_FRACTION * area.max())
    # deep white matter on a 4 mm grid, at least 15 mm inside the brain, z in [-20, 50] mm MNI
    coarse = brain[::4, ::4, ::4]
    depth = ndimage.distance_transform_edt(coarse) * 4.0
    z_mni = np.arange(coarse.shape[2]) * 4.0 - 72.0
    ok = (arrays["wm"][::4, ::4, ::4] > 150) & (depth >= 15.0)
    ok &= ((z_mni >= -20) & (z_mni <= 50))[None, None, :]
    box = tuple(np.array([e[i] + 2.0 * sign for e in extent], np.float32) for i, sign in ((0, -1), (-1, 1)))
    return _Templates(arrays["gm"], arrays["wm"], brain, centre, box,
                      z_range=(float(extent[2][0]), float(extent[2][-1])),
                      slice_range=(float(big[0]), float(big[-1])), tumour_sites=np.argwhere(ok) * 4.0)


@dataclass(frozen=True)
class _Grid:
    """The output volume: size x size x nz voxels of ``spacing`` mm over the brain."""

    size: int
    spacing: float
    nz: int
    origin: np.ndarray      # template mm of voxel (0, 0, 0)
    maps: np.ndarray        # [3, X, Y, Z] float32 GM, WM, brain fractions every ``map_spacing`` mm
    map_spacing: float      # max(spacing, 1): never finer than the 1 mm templates

    def axes(self, ks) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Template-mm coordinates of voxel indices along i (-x), j (-y) and the given k (+z)."""
        n = np.arange(self.size, dtype=np.float64)
        return (self.origin[0] - n * self.spacing, self.origin[1] - n * self.spacing,
                self.origin[2] + np.asarray(ks, np.float64) * self.spacing)

    @property
    def affine(self) -> np.ndarray:
        """Voxel -> world (MNI mm) affine, LPS axes like BraTS."""
        s = self.spacing
        offset = self.origin - np.array([98.0, 134.0, 72.0])   # template voxel -> MNI mm
        return np.array([[-s, 0, 0, offset[0]], [0, -s, 0, offset[1]], [0, 0, s, offset[2]], [0, 0, 0, 1.0]])

    def k_of(self, z_mm: float) -> float:
        return (z_mm - self.origin[2]) / self.spacing

    @property
    def brain_slices(self) -> tuple[int, int]:
        lo, hi = _templates().slice_range
        return max(0, int(np.ceil(self.k_of(lo)))), min(self.nz - 1, int(np.floor(self.k_of(hi))))


@functools.lru_cache(maxsize=4)
def _grid(size: int) -> _Grid:
    tpl = _templates()
    s = FOV_MM / size
    step = max(s, 1.0)
    maps = []
    for volume in (tpl.gm, tpl.wm, tpl.brain):
        v = volume.astype(np.float32) / (255.0 if volume.dtype == np.uint8 else 1.0)
        if step > 1.0:   # anti-alias, then keep a sample every ``step`` mm
            v = ndimage.gaussian_filter(v, 0.5 * np.sqrt(step * step - 1.0))
            shape = tuple(int(np.ceil(n / step)) for n in v.shape)
            v = ndimage.affine_transform(v, np.full(3, step), output_shape=shape, order=1)
        maps.append(v)
    z_lo, z_hi = tpl.z_range
    nz = int(np.ceil((z_hi - z_lo + 8.0) / s)) + 1
    half = (size - 1) / 2.0 * s
    origin = np.array([tpl.centre[0] + half, tpl.centre[1] + half, (z_lo + z_hi) / 2.0 - (nz - 1) / 2.0 * s])
    return _Grid(size, s, nz, origin, np.stack(maps), step)


# ----------------------------------------------------------------------------- subjects

class _SmoothField:
    """Random smooth fields: Gaussian radial basis on a regular grid of control points (mm)."""

    def __init__(self, rng, channels: int, step: float, std: float):
        tpl = _templates()
        lo = np.array([tpl.centre[0] - FOV_MM / 2, tpl.centre[1] - FOV_MM / 2, tpl.z_range[0] - 10])
        hi = np.array([tpl.centre[0] + FOV_MM / 2, tpl.centre[1] + FOV_MM / 2, tpl.z_range[1] + 10])
        self.centres = [np.arange(a, b + step, step) for a, b in zip(lo, hi)]
        self.step = step
        self.weights = rng.normal(0.0, std, (channels, *(len(c) for c in self.centres)))

    def on_grid(self, xs, ys, zs) -> np.ndarray:
        """[channels, len(zs), len(xs), len(ys)] float32."""
        width = self.step * 0.75
        norm = np.sqrt(np.sqrt(np.pi) * width / self.step)
        bases = [np.exp(-0.5 * ((np.asarray(p)[:, None] - c[None, :]) / width) ** 2) / norm
                 for p, c in zip((xs, ys, zs), self.centres)]
        return np.einsum("cabd,ia,jb,kd->ckij", self.weights, *bases, optimize=True).astype(np.float32)


@dataclass
class _Tumour:
    centre: np.ndarray      # template mm
    radius: float           # outer radius of the enhancing tumour (mm)
    rim: float              # enhancing rim thickness (mm); the rest inside is necrotic
    oedema: float           # oedema radius / radius
    mass: float             # mass effect strength
    directions: np.ndarray  # [K, 3] lobe directions (lobulation)
    lobes: np.ndarray       # [4, K] lobe amplitudes: rim, core, oedema, gadolinium
    waves: np.ndarray       # [K, 3] wave vectors (rad / mm) of a smooth irregularity field
    phases: np.ndarray      # [K]
    roughness: np.ndarray   # [4, K] wave amplitudes (mm for the three borders, relative for gadolinium)
    gadolinium: float       # mM

    @property
    def reach(self) -> float:
        """Distance (mm) beyond which no lesion tissue can be."""
        return self.radius * self.oedema * 1.5 + float(np.abs(self.roughness[2]).sum()) + 12.0

    def borders(self, off: np.ndarray, dist: np.ndarray):
        """Rim, core and oedema radii (mm) at points ``off`` [3, n] from the centre, and gadolinium (mM)."""
        cosines = np.tensordot(self.directions.astype(np.float32), off / dist, axes=1)
        lobe = np.tensordot(self.lobes.astype(np.float32), np.exp(4.0 * (cosines - 1.0)), axes=1)
        phase = np.tensordot(self.waves.astype(np.float32), off, axes=1) + self.phases[:, None]
        rough = np.tensordot(self.roughness.astype(np.float32), np.cos(phase), axes=1)
        rim = self.radius * np.clip(1.0 + lobe[0], 0.7, 1.4) + rough[0]
        core = np.minimum(rim - self.rim * np.clip(1.0 + lobe[1], 0.4, 2.0) + rough[1], rim - 1.5)
        oedema = self.radius * self.oedema * np.clip(1.0 + lobe[2], 0.6, 1.5) + rough[2]
        oedema = np.maximum(oedema, rim + 1.0)
        gadolinium = self.gadolinium * np.clip(1.0 + lobe[3] + rough[3], 0.3, 1.6)
        return rim, core, oedema, gadolinium


@dataclass
class _Subject:
    seed: int
    rotation: np.ndarray    # 3x3 rotation and scaling, output -> template
    shift: np.ndarray       # mm
    elastic: _SmoothField
    bias: _SmoothField      # channel 0 shared, 1..4 per sequence
    tissues: dict           # tissue -> (t1, t2, pd)
    timing: dict
    noise: dict             # sequence -> sigma fraction
    tumour: _Tumour | None


def _uniform(rng, bounds) -> float:
    return float(rng.uniform(*bounds))


def _rotation(rng) -> np.ndarray:
    ax, ay, az = np.deg2rad([rng.uniform(-3, 3), rng.uniform(-5, 5), rng.uniform(-8, 8)])
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    scale = rng.uniform(0.92, 1.08) * rng.uniform(0.97, 1.03, 3)
    return rz @ ry @ rx @ np.diag(1.0 / scale)


def _draw_tumour(rng) -> _Tumour:
    sites = _templates().tumour_sites
    k = 12
    directions = rng.normal(size=(k, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    wavelengths = rng.uniform(12.0, 40.0, k)
    waves = rng.normal(size=(k, 3))
    waves *= (2 * np.pi / wavelengths / np.linalg.norm(waves, axis=1))[:, None]
    return _Tumour(centre=sites[rng.integers(len(sites))] + rng.uniform(-2, 2, 3),
                   radius=_uniform(rng, (8, 22)), rim=_uniform(rng, (3, 8)),
                   oedema=_uniform(rng, (1.5, 2.3)), mass=_uniform(rng, (0.2, 0.45)),
                   directions=directions,
                   lobes=rng.normal(0.0, 1.0, (4, k)) * np.array([[0.2], [0.3], [0.25], [0.3]]),
                   waves=waves, phases=rng.uniform(0, 2 * np.pi, k),
                   roughness=rng.normal(0.0, np.sqrt(2.0 / k), (4, k)) * np.array([[1.5], [1.5], [6], [0.3]]),
                   gadolinium=_uniform(rng, GADOLINIUM_MM))


def null_inversion_time(t1: float, tr: float) -> float:
    """The inversion time that nulls a tissue of this T1: T1 ln(2 / (1 + exp(-TR/T1)))."""
    return float(t1 * np.log(2.0 / (1.0 + np.exp(-tr / t1))))


def _draw_subject(seed: int, tumour: bool) -> _Subject:
    rng = np.random.default_rng([seed, 0])
    rotation, shift = _rotation(rng), rng.uniform([-6, -6, -4], [6, 6, 4])
    elastic, bias = _SmoothField(rng, 3, 40.0, 2.5), _SmoothField(rng, 5, 80.0, 0.08)
    tissues = {t: tuple(_uniform(rng, r) for r in TISSUE_RANGES[t]) for t in TISSUES}
    timing = {s: {k: _uniform(rng, r) for k, r in ranges.items()} for s, ranges in TIMING_RANGES.items()}
    flair = timing["flair"]
    flair["ti"] = null_inversion_time(tissues["csf"][0] * _uniform(rng, FLAIR_TUNING), flair["tr"])
    return _Subject(
        seed=seed, rotation=rotation, shift=shift, elastic=elastic, bias=bias, tissues=tissues, timing=timing,
        noise={s: _uniform(rng, NOISE_FRACTION) for s in SEQUENCES},
        tumour=_draw_tumour(np.random.default_rng([seed, 1])) if tumour else None)


def _has_tumour(seed: int) -> bool:
    return bool(np.random.default_rng([seed, 4]).random() < 0.5)


# ----------------------------------------------------------------------------- physics

def spin_echo(pd, t1, t2, tr, te):
    """Spin-echo magnitude: PD (1 - exp(-TR/T1)) exp(-TE/T2)."""
    return pd * (1.0 - np.exp(-tr / t1)) * np.exp(-te / t2)


def inversion_recovery(pd, t1, t2, tr, ti, te):
    """Inversion-recovery magnitude: PD |1 - 2 exp(-TI/T1) + exp(-TR/T1)| exp(-TE/T2)."""
    return pd * np.abs(1.0 - 2.0 * np.exp(-ti / t1) + np.exp(-tr / t1)) * np.exp(-te / t2)


def _tissue_signal(sequence: str, t1, t2, pd, timing: dict):
    """Signal of one tissue (T1, T2 in ms, PD) under the subject's timing for ``sequence``."""
    if sequence in ("t1", "t1ce"):
        return spin_echo(pd, t1, t2, timing["t1"]["tr"], timing["t1"]["te"])
    if sequence == "t2":
        return spin_echo(pd, t1, t2, timing["t2"]["tr"], timing["t2"]["te"])
    f = timing["flair"]
    return inversion_recovery(pd, t1, t2, f["tr"], f["ti"], f["te"])


def _sigmoid(x, width):
    return 0.5 * (1.0 + np.tanh(x / width))


# ----------------------------------------------------------------------------- rendering

def _render(subject: _Subject, grid: _Grid, ks) -> dict:
    """Raw signals, masks and tissue fractions of the axial planes ``ks``.

    Arrays are [len(ks), size, size], indexed (k, i, j). Only points that land in the template's
    brain box are computed.
    """
    xs, ys, zs = grid.axes(ks)
    shape = (len(zs), grid.size, grid.size)
    c = _templates().centre
    rel = (xs[None, :, None] - c[0], ys[None, None, :] - c[1], zs[:, None, None] - c[2])
    disp = subject.elastic.on_grid(xs, ys, zs)
    q = np.stack([c[a] + subject.shift[a] + sum(subject.rotation[a, b] * rel[b] for b in range(3)) + disp[a]
                  for a in range(3)]).astype(np.float32).reshape(3, -1)
    tumour = subject.tumour
    if tumour is not None:   # mass effect: tissue near the lesion is pushed outwards
        centre = tumour.centre.astype(np.float32)[:, None]
        off = q - centre
        dist = np.maximum(np.sqrt((off ** 2).sum(0)), 1e-3)
        q = centre + off * (1.0 - tumour.mass * np.exp(-(dist / (1.5 * tumour.radius)) ** 2))
    lo, hi = _templates().box
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

    bias = np.exp(subject.bias.on_grid(xs, ys, zs).reshape(5, -1)[:, keep])
    counts = np.bincount(keep // (grid.size * grid.size), minlength=len(zs))
    noise = np.concatenate([np.random.default_rng([subject.seed, 2, int(k)]).standard_normal(
        (len(SEQUENCES), 2, n), dtype=np.float32) for k, n in zip(ks, counts)], axis=-1)
    parts = fractions[:, in_brain]
    images = {}
    for n, seq in enumerate(SEQUENCES):
        per_tissue = np.array([_tissue_signal(seq, *subject.tissues[t], subject.timing) for t in TISSUES],
                              np.float32)
        signal = per_tissue @ parts
        if seq == "t1ce" and tumour is not None:   # gadolinium: 1/T1' = 1/T1 + r1 C in the rim
            t1, t2, pd = subject.tissues["enhancing"]
            t1_gd = 1.0 / (1.0 / t1 + R1_GADOLINIUM * gad[in_brain])
            signal += parts[4] * (_tissue_signal(seq, t1_gd, t2, pd, subject.timing) - per_tissue[4])
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
    tumour = _has_tumour(seed) if tumor is None else bool(tumor)
    grid = _grid(int(size))
    out = _render(_draw_subject(int(seed), tumour), grid, np.arange(grid.nz))
    to_ijk = lambda a: np.ascontiguousarray(a.transpose(1, 2, 0))  # noqa: E731
    seg = to_ijk(out["segmentation"])
    return {"images": {s: to_ijk(v) for s, v in out["images"].items()},
            "brain_mask": to_ijk(out["brain_mask"]), "tumor_mask": seg > 0, "segmentation": seg,
            "fractions": {t: to_ijk(v) for t, v in out["fractions"].items()},
            "affine": grid.affine, "tumor": tumour}


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

def _pick_slices(subject: _Subject, grid: _Grid, count: int) -> np.ndarray:
    """``count`` distinct axial indices among the brain slices; near the lesion for tumour subjects."""
    lo, hi = grid.brain_slices
    candidates = np.arange(lo, hi + 1)
    if count > len(candidates):
        raise UserError("phantom", f"slices={count} is more than the {len(candidates)} axial positions "
                                   f"that contain brain at size={grid.size}")
    rng = np.random.default_rng([subject.seed, 3, count])
    tumour = subject.tumour
    if tumour is not None:   # lesion centre in output space, up to the elastic part
        c = _templates().centre
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
    grid = _grid(size)
    with_tumour = np.random.default_rng([seed, 5]).permutation(np.arange(subjects) < (subjects + 1) // 2)
    images, brain, seg, subject_index, slice_index, seeds = [], [], [], [], [], []
    for i in range(subjects):
        subject = _draw_subject(_subject_seed(seed, i), bool(with_tumour[i]))
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
    """``<hash of this module's and preprocess's code>-<hash of the options>.npz``."""
    code = hashlib.sha256(Path(__file__).read_bytes()
                          + Path(preprocess.__file__).read_bytes()).hexdigest()[:12]
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
