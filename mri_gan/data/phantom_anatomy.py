"""The phantom's anatomy: the MNI152 2009 symmetric T1, grey- and white-matter templates that the
nilearn wheel ships (never downloaded), and the grid the phantom's volumes are sampled on.
See docs/phantom.md."""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from mri_gan.errors import UserError

TEMPLATE_FILES = {name: f"mni_icbm152_{name}_tal_nlin_sym_09a_converted.nii.gz"
                  for name in ("t1", "gm", "wm")}

#: in-plane field of view (mm); the voxel size is FOV_MM / size
FOV_MM = 220.0
#: brain slices: axial planes whose template brain area is at least this fraction of the largest
SLICE_AREA_FRACTION = 0.3


def _template_dir() -> Path:
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("phantom", "nilearn is not installed (its wheel ships the MNI152 templates)")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


@dataclass(frozen=True)
class Templates:
    gm: np.ndarray          # uint8 [0, 255], template voxels (1 mm, RAS)
    wm: np.ndarray
    brain: np.ndarray       # bool
    centre: np.ndarray      # brain bounding-box centre (template mm)
    box: tuple              # (low, high) corners of the brain bounding box, 2 mm margin
    z_range: tuple          # brain extent along z (template mm, inclusive)
    slice_range: tuple      # z range of brain slices (SLICE_AREA_FRACTION)
    tumour_sites: np.ndarray  # [M, 3] candidate tumour centres (deep white matter)


@functools.lru_cache(maxsize=1)
def templates() -> Templates:
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
    return Templates(arrays["gm"], arrays["wm"], brain, centre, box,
                      z_range=(float(extent[2][0]), float(extent[2][-1])),
                      slice_range=(float(big[0]), float(big[-1])), tumour_sites=np.argwhere(ok) * 4.0)


@dataclass(frozen=True)
class Grid:
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
        lo, hi = templates().slice_range
        return max(0, int(np.ceil(self.k_of(lo)))), min(self.nz - 1, int(np.floor(self.k_of(hi))))


@functools.lru_cache(maxsize=4)
def sampling_grid(size: int) -> Grid:
    tpl = templates()
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
    return Grid(size, s, nz, origin, np.stack(maps), step)
