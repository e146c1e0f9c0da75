"""The phantom's subjects and their MR physics: per-subject tissue relaxation times, timings,
affine and elastic deformation, bias field, noise and a lobulated tumour, all drawn from a seed;
the spin-echo and inversion-recovery signal equations. See docs/phantom.md."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mri_gan.data.phantom_anatomy import FOV_MM, templates
from mri_gan.data.records import SEQUENCES

TISSUES = ("wm", "gm", "csf", "necrosis", "enhancing", "oedema")
#: tissue -> uniform ranges of (T1 ms, T2 ms, PD) at 3 T (docs/phantom.md). Oedema T1 is shifted to the
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


class SmoothField:
    """Random smooth fields: Gaussian radial basis on a regular grid of control points (mm)."""

    def __init__(self, rng, channels: int, step: float, std: float):
        tpl = templates()
        lo = np.array([tpl.centre[0] - FOV_MM / 2, tpl.centre[1] - FOV_MM / 2, tpl.z_range[0] - 10])
        hi = np.array([tpl.centre[0] + FOV_MM / 2, tpl.centre[1] + FOV_MM / 2, tpl.z_range[1] + 10])
        self.centres = [np.arange(a, b + step, step) for a, b in zip(lo, hi)]
        self.step = step
        self.weights = rng.normal(0.0, std, (channels, *(len(c) for c in self.centres)))

    def onsampling_grid(self, xs, ys, zs) -> np.ndarray:
        """[channels, len(zs), len(xs), len(ys)] float32."""
        width = self.step * 0.75
        norm = np.sqrt(np.sqrt(np.pi) * width / self.step)
        bases = [np.exp(-0.5 * ((np.asarray(p)[:, None] - c[None, :]) / width) ** 2) / norm
                 for p, c in zip((xs, ys, zs), self.centres)]
        return np.einsum("cabd,ia,jb,kd->ckij", self.weights, *bases, optimize=True).astype(np.float32)


@dataclass
class Tumour:
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
class Subject:
    seed: int
    rotation: np.ndarray    # 3x3 rotation and scaling, output -> template
    shift: np.ndarray       # mm
    elastic: SmoothField
    bias: SmoothField      # channel 0 shared, 1..4 per sequence
    tissues: dict           # tissue -> (t1, t2, pd)
    timing: dict
    noise: dict             # sequence -> sigma fraction
    tumour: Tumour | None


def _uniform(rng, bounds) -> float:
    return float(rng.uniform(*bounds))


def _rotation(rng) -> np.ndarray:
    ax, ay, az = np.deg2rad([rng.uniform(-3, 3), rng.uniform(-5, 5), rng.uniform(-8, 8)])
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    scale = rng.uniform(0.92, 1.08) * rng.uniform(0.97, 1.03, 3)
    return rz @ ry @ rx @ np.diag(1.0 / scale)


def _draw_tumour(rng) -> Tumour:
    sites = templates().tumour_sites
    k = 12
    directions = rng.normal(size=(k, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    wavelengths = rng.uniform(12.0, 40.0, k)
    waves = rng.normal(size=(k, 3))
    waves *= (2 * np.pi / wavelengths / np.linalg.norm(waves, axis=1))[:, None]
    return Tumour(centre=sites[rng.integers(len(sites))] + rng.uniform(-2, 2, 3),
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


def draw_subject(seed: int, tumour: bool) -> Subject:
    rng = np.random.default_rng([seed, 0])
    rotation, shift = _rotation(rng), rng.uniform([-6, -6, -4], [6, 6, 4])
    elastic, bias = SmoothField(rng, 3, 40.0, 2.5), SmoothField(rng, 5, 80.0, 0.08)
    tissues = {t: tuple(_uniform(rng, r) for r in TISSUE_RANGES[t]) for t in TISSUES}
    timing = {s: {k: _uniform(rng, r) for k, r in ranges.items()} for s, ranges in TIMING_RANGES.items()}
    flair = timing["flair"]
    flair["ti"] = null_inversion_time(tissues["csf"][0] * _uniform(rng, FLAIR_TUNING), flair["tr"])
    return Subject(
        seed=seed, rotation=rotation, shift=shift, elastic=elastic, bias=bias, tissues=tissues, timing=timing,
        noise={s: _uniform(rng, NOISE_FRACTION) for s in SEQUENCES},
        tumour=_draw_tumour(np.random.default_rng([seed, 1])) if tumour else None)


def has_tumour(seed: int) -> bool:
    return bool(np.random.default_rng([seed, 4]).random() < 0.5)


def spin_echo(pd, t1, t2, tr, te):
    """Spin-echo magnitude: PD (1 - exp(-TR/T1)) exp(-TE/T2)."""
    return pd * (1.0 - np.exp(-tr / t1)) * np.exp(-te / t2)


def inversion_recovery(pd, t1, t2, tr, ti, te):
    """Inversion-recovery magnitude: PD |1 - 2 exp(-TI/T1) + exp(-TR/T1)| exp(-TE/T2)."""
    return pd * np.abs(1.0 - 2.0 * np.exp(-ti / t1) + np.exp(-tr / t1)) * np.exp(-te / t2)


def tissue_signal(sequence: str, t1, t2, pd, timing: dict):
    """Signal of one tissue (T1, T2 in ms, PD) under the subject's timing for ``sequence``."""
    if sequence in ("t1", "t1ce"):
        return spin_echo(pd, t1, t2, timing["t1"]["tr"], timing["t1"]["te"])
    if sequence == "t2":
        return spin_echo(pd, t1, t2, timing["t2"]["tr"], timing["t2"]["te"])
    f = timing["flair"]
    return inversion_recovery(pd, t1, t2, f["tr"], f["ti"], f["te"])
