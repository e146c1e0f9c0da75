"""Evaluation metrics: paired fidelity inside the brain mask, and distribution distances.

Paired metrics (Pix2Pix, imputation) compare a prediction with its target slice by slice on the
[0, 1] intensity scale (model images in [-1, 1] mapped linearly, then clipped):

- SSIM: the local SSIM map of ``tf.image.ssim`` (11x11 Gaussian window, sigma 1.5, k1 0.01,
  k2 0.03, data range 1, valid windows only, so each map pixel is the centre of a window) on both
  images with the background set to 0, averaged over the mask pixels at window centres. The map
  is computed with OpenCV's separable filter (about 200x faster than ``tf.image.ssim`` on this
  CPU, equal to it within 1e-5); with a full mask the value is ``tf.image.ssim``'s.
- PSNR: ``10 log10(1 / MSE)`` with the MSE over mask pixels, capped at ``PSNR_CAP_DB`` so
  identical images give a finite, JSON-safe 100 dB instead of infinity.
- MAE: mean absolute error over mask pixels. NMSE: ``sum (p - t)^2 / sum t^2`` over mask pixels.

Each metric is pooled over all mask pixels of one subject first, then the mean and the
population standard deviation (ddof 0) are taken over subjects.

Distribution metrics (DCGAN, PGGAN) work on activations, separate from the network that makes
them (``mri_gan.evaluation.feature_networks``): FID, unbiased KID, precision / recall / density /
coverage. No function here loads a network.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import linalg
from sklearn.metrics import pairwise_distances_chunked
from sklearn.neighbors import NearestNeighbors

from mri_gan.data.preprocess import robust_bounds
from mri_gan.errors import UserError

SCALE = "[0, 1]"
PSNR_CAP_DB = 100.0
SSIM_FILTER_SIZE = 11
SSIM_FILTER_SIGMA = 1.5
NMSE_FLOOR = 1e-12  # NMSE denominator floor, for a target that is black inside the mask

PAIRED_DEFINITIONS = {
    "ssim": "mean of the tf.image.ssim map (11x11 Gaussian window, sigma 1.5, data range 1, "
            "background set to 0) over brain-mask pixels at window centres; pooled per subject",
    "psnr": f"10*log10(1/MSE) in dB, MSE over brain-mask pixels pooled per subject, "
            f"capped at {PSNR_CAP_DB:g} dB (identical images)",
    "mae": "mean |prediction - target| over brain-mask pixels, pooled per subject",
    "nmse": "sum (prediction - target)^2 / sum target^2 over brain-mask pixels, pooled per subject",
    "aggregate": "per-subject values, then mean and population std (ddof 0) over subjects",
    "tumour": "SSIM, PSNR, MAE and NMSE of the same brain-masked images over the tumour-mask pixels "
              "only (SSIM: window centres inside the tumour); subjects with tumour pixels",
    "lesion_contrast": "(mean prediction in the lesion mask - median prediction in the rest of the "
                       "brain) / the same for the target; 1 = lesions as bright as real, 0 = not "
                       "told apart; subjects with lesion pixels and target contrast > 0.01",
    "scale": "intensities in [0, 1]: model range [-1, 1] mapped linearly and clipped",
    "bright": "mean of a volume over the target's bright voxels (above 2x the target's brain "
              "median: lesions in FLAIR) / the volume's brain median",
    "dark": "mean of a volume over the target's dark voxels (below half the target's brain "
            "median: CSF in FLAIR) / the volume's brain median",
}

DISTRIBUTION_DEFINITIONS = {
    "fid": "Frechet distance between Gaussians fitted to real and synthetic activations",
    "kid": "unbiased MMD^2 with the kernel (x.y/d + 1)^3 over random equal-size subsets of both "
           "sets, mean and std over subsets",
    "precision": "share of synthetic samples inside the real k-NN manifold (Naeem et al. 2020)",
    "recall": "share of real samples inside the synthetic k-NN manifold",
    "density": "mean count of real k-NN balls holding a synthetic sample, divided by k",
    "coverage": "share of real k-NN balls that hold at least one synthetic sample",
}

# ----------------------------------------------------------------------------- paired metrics

def to_unit_range(images, input_range=(-1.0, 1.0)) -> np.ndarray:
    """Map intensities from ``input_range`` linearly to [0, 1] and clip (float32)."""
    lo, hi = (float(v) for v in input_range)
    return np.clip((np.asarray(images, np.float32) - lo) / (hi - lo), 0.0, 1.0)


def _as_slices(images) -> np.ndarray:
    """[N, H, W] or [N, H, W, 1] -> [N, H, W]."""
    arr = np.asarray(images, np.float32)
    if arr.ndim == 4 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 3:
        raise ValueError(f"expected [N, H, W] or [N, H, W, 1] images, got shape {arr.shape}")
    return arr


def ssim_map(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Local SSIM of slices [N, H, W] in [0, 1] as ``tf.image.ssim(..., return_index_map=True)``:
    [N, H - 10, W - 10] (Gaussian 11x11, sigma 1.5, valid windows, k1 0.01, k2 0.03, range 1)."""
    g = cv2.getGaussianKernel(SSIM_FILTER_SIZE, SSIM_FILTER_SIGMA, cv2.CV_32F)
    r = (SSIM_FILTER_SIZE - 1) // 2

    def local_mean(z):
        return np.stack([cv2.sepFilter2D(s, cv2.CV_32F, g, g)[r:-r, r:-r] for s in z])

    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mx, my = local_mean(x), local_mean(y)
    num0 = 2.0 * mx * my
    den0 = mx * mx + my * my
    luminance = (num0 + c1) / (den0 + c1)
    cs = (2.0 * local_mean(x * y) - num0 + c2) / (local_mean(x * x + y * y) - den0 + c2)
    return luminance * cs


def _slice_sums(pred01: np.ndarray, target01: np.ndarray, mask: np.ndarray,
                regions=(None,)) -> list[dict[str, np.ndarray]]:
    """Per ``region`` (None: ``mask``), per-slice sums over its pixels of the images with the
    background outside ``mask`` set to 0: SSIM map, squared / absolute error, target energy."""
    p = (pred01 * mask).astype(np.float32)
    t = (target01 * mask).astype(np.float32)
    smap = ssim_map(p, t)
    return [_region_sums(p, t, smap, mask if region is None else region) for region in regions]


def _region_sums(p: np.ndarray, t: np.ndarray, smap: np.ndarray, region: np.ndarray) -> dict[str, np.ndarray]:
    r = (SSIM_FILTER_SIZE - 1) // 2
    h, w = region.shape[1:]
    centres = region[:, r:h - r, r:w - r]
    diff = (p - t) * region
    return {
        "ssim": (smap * centres).sum(axis=(1, 2), dtype=np.float64),
        "ssim_pixels": centres.sum(axis=(1, 2), dtype=np.float64),
        "se": np.square(diff).sum(axis=(1, 2), dtype=np.float64),
        "ae": np.abs(diff).sum(axis=(1, 2), dtype=np.float64),
        "energy": np.square(t * region).sum(axis=(1, 2), dtype=np.float64),
        "pixels": region.sum(axis=(1, 2), dtype=np.float64),
    }


def psnr_from_mse(mse: float) -> float:
    """PSNR in dB for data range 1, capped at ``PSNR_CAP_DB`` (so MSE 0 gives the cap)."""
    if mse <= 10.0 ** (-PSNR_CAP_DB / 10.0):
        return PSNR_CAP_DB
    return float(10.0 * np.log10(1.0 / mse))


def _pooled(sums: dict[str, np.ndarray]) -> dict[str, float]:
    """The four metrics from sums over one group of slices."""
    se, pixels = float(sums["se"].sum()), float(sums["pixels"].sum())
    energy = float(sums["energy"].sum())
    return {
        "ssim": float(sums["ssim"].sum() / sums["ssim_pixels"].sum()),
        "psnr": psnr_from_mse(se / pixels),
        "mae": float(sums["ae"].sum() / pixels),
        "nmse": se / max(energy, NMSE_FLOOR),
    }


def paired_metrics(pred, target, mask, subjects, input_range=(-1.0, 1.0), lesion=None) -> dict:
    """SSIM, PSNR, MAE and NMSE inside ``mask``, per subject, then mean and std over subjects;
    with ``lesion`` masks [N, H, W] also the same metrics inside the tumour (``tumour``) and
    ``lesion_contrast`` (each when it is defined).

    ``pred`` and ``target``: [N, H, W] or [N, H, W, 1] in ``input_range`` (model range by
    default); ``mask``: [N, H, W] bool, or None for whole images; ``subjects``: N subject ids.
    Subjects whose mask holds no SSIM window centre are left out and listed in ``"excluded"``.
    """
    p, t = _as_slices(pred), _as_slices(target)
    if p.shape != t.shape:
        raise ValueError(f"prediction {p.shape} and target {t.shape} differ in shape")
    if min(p.shape[1:]) < SSIM_FILTER_SIZE:
        raise ValueError(f"slices of {p.shape[1:]} are smaller than the SSIM window")
    m = np.ones(p.shape, bool) if mask is None else np.asarray(mask, bool).reshape(p.shape)
    subjects = np.asarray(subjects).astype(str).reshape(-1)
    if len(subjects) != len(p):
        raise ValueError(f"{len(subjects)} subject ids for {len(p)} slices")
    tumour_region = None if lesion is None else m & np.asarray(lesion, bool).reshape(p.shape)
    sums = _slice_sums(to_unit_range(p, input_range), to_unit_range(t, input_range), m,
                       (None,) if lesion is None else (None, tumour_region))
    per_subject, excluded = _per_subject(sums[0], subjects)
    if not per_subject:
        raise UserError("brain mask", "no subject has mask pixels away from the image border")
    out = _over_subjects(per_subject)
    if lesion is not None:
        tumour, _ = _per_subject(sums[1], subjects)
        if tumour:
            out["tumour"] = dict(_over_subjects(tumour), subjects=len(tumour))
        contrast = lesion_contrast(p, t, m, lesion, subjects, input_range)
        if contrast is not None:
            out["lesion_contrast"] = contrast
    out.update(subjects=len(per_subject), masked=mask is not None, scale=SCALE,
               psnr_cap_db=PSNR_CAP_DB, excluded=excluded, per_subject=per_subject,
               definitions=dict(PAIRED_DEFINITIONS))
    return out


def _per_subject(sums: dict[str, np.ndarray], subjects: np.ndarray) -> tuple[dict, list[str]]:
    """Pooled metrics per subject, and the subjects without an SSIM window centre in the region."""
    per_subject, excluded = {}, []
    for subject in sorted(set(subjects)):
        rows = subjects == subject
        group = {k: v[rows] for k, v in sums.items()}
        if group["ssim_pixels"].sum() == 0:
            excluded.append(subject)
            continue
        per_subject[subject] = dict(_pooled(group), slices=int(rows.sum()),
                                    pixels=int(group["pixels"].sum()))
    return per_subject, excluded


def _over_subjects(per_subject: dict) -> dict:
    """Mean and population std over subjects of each metric."""
    out = {}
    for name in ("ssim", "psnr", "mae", "nmse"):
        values = np.array([s[name] for s in per_subject.values()], np.float64)
        out[name] = {"mean": float(values.mean()), "std": float(values.std())}
    return out


def lesion_contrast(pred, target, brain, lesion, subjects, input_range=(-1.0, 1.0)) -> dict | None:
    """How much of the target's lesion contrast the prediction reproduces (see
    ``PAIRED_DEFINITIONS["lesion_contrast"]``), per subject then mean and std over subjects;
    None when no subject has lesion pixels with a measurable target contrast."""
    p = to_unit_range(_as_slices(pred), input_range)
    t = to_unit_range(_as_slices(target), input_range)
    brain, lesion = np.asarray(brain, bool).reshape(p.shape), np.asarray(lesion, bool).reshape(p.shape)
    subjects = np.asarray(subjects).astype(str).reshape(-1)
    values = []
    for subject in sorted(set(subjects)):
        rows = subjects == subject
        inside, rest = lesion[rows] & brain[rows], brain[rows] & ~lesion[rows]
        if not inside.any() or not rest.any():
            continue
        real = t[rows][inside].mean() - np.median(t[rows][rest])
        if real > 0.01:
            values.append((p[rows][inside].mean() - np.median(p[rows][rest])) / real)
    if not values:
        return None
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "subjects": len(values)}


def volume_metrics(pred_vol, target_vol, mask_vol=None, axis: int = 2, input_range=None) -> dict:
    """SSIM, PSNR, MAE and NMSE of one 3-D volume inside its mask.

    3-D SSIM is the 2-D SSIM map of every slice along ``axis`` (axial for RAS NIfTI) averaged
    over all mask pixels of the volume. Intensities map to [0, 1] by ``input_range`` or, when
    None, by ``preprocess.robust_bounds`` of the target inside the mask (applied to both).
    """
    p, t = np.asarray(pred_vol, np.float32), np.asarray(target_vol, np.float32)
    if p.shape != t.shape or p.ndim != 3:
        raise ValueError(f"expected two 3-D volumes of one shape, got {p.shape} and {t.shape}")
    m = np.ones(t.shape, bool) if mask_vol is None else np.asarray(mask_vol, bool)
    if input_range is None:
        input_range = robust_bounds(t, m if m.any() else None)
        scale = ("[0, 1] by the target's robust scale inside the mask (p0.5 -> 0, median -> "
                 "0.35), clipped")
    else:
        scale = f"[0, 1] from {list(input_range)}, clipped"
    p, t, m = (np.moveaxis(a, axis, 0) for a in (p, t, m))
    keep = m.any(axis=(1, 2))
    if not keep.any():
        raise UserError("mask", "the mask of the volume is empty")
    sums = _slice_sums(to_unit_range(p[keep], input_range), to_unit_range(t[keep], input_range),
                       m[keep])[0]
    if sums["ssim_pixels"].sum() == 0:
        raise UserError("mask", "the mask of the volume has no pixel away from the slice borders")
    return dict(_pooled(sums), masked=mask_vol is not None, scale=scale, slices=int(keep.sum()),
                psnr_cap_db=PSNR_CAP_DB, definitions=dict(PAIRED_DEFINITIONS),
                ssim_3d=f"2-D SSIM maps of the slices along axis {axis} averaged over the volume's mask pixels")


BRASYN_DEFINITIONS = {
    "brasyn": "per case, as the BraSyn challenge scores a synthesized volume: each volume scaled by "
              "its own 0.5-99.5 percentiles inside the brain to [0, 1] (clipped, 0 outside); a 3-D "
              "SSIM map (Gaussian window sigma 1.5, truncated at 11 voxels, data range 1) averaged "
              "over the tumour voxels (ssim_tumour) and the other brain voxels (ssim_healthy); PSNR "
              "and MSE over the brain; then mean and std over cases",
}


def _percentile_unit(volume: np.ndarray, brain: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(volume[brain], [0.5, 99.5])
    return np.clip((volume - lo) / max(hi - lo, 1e-6), 0.0, 1.0) * brain


def ssim_map_3d(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Local SSIM of two volumes in [0, 1] with a 3-D Gaussian window (sigma 1.5, 11 voxels)."""
    from scipy.ndimage import gaussian_filter

    def mean(z):
        return gaussian_filter(z, SSIM_FILTER_SIGMA, truncate=(SSIM_FILTER_SIZE // 2) / SSIM_FILTER_SIGMA)

    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mx, my = mean(x), mean(y)
    vx, vy, cxy = mean(x * x) - mx * mx, mean(y * y) - my * my, mean(x * y) - mx * my
    return ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))


def brasyn_case_metrics(pred_vol, target_vol, brain_vol, tumour_vol) -> dict:
    """BraSyn-style figures of one case (``BRASYN_DEFINITIONS``): ssim_tumour (None without
    tumour voxels), ssim_healthy, psnr, mse."""
    brain = np.asarray(brain_vol, bool)
    tumour = np.asarray(tumour_vol, bool) & brain
    p = _percentile_unit(np.asarray(pred_vol, np.float32), brain)
    t = _percentile_unit(np.asarray(target_vol, np.float32), brain)
    smap = ssim_map_3d(p, t)
    mse = float(np.mean(np.square(p - t)[brain]))
    return {"ssim_tumour": float(smap[tumour].mean()) if tumour.any() else None,
            "ssim_healthy": float(smap[brain & ~tumour].mean()), "psnr": psnr_from_mse(mse), "mse": mse}


def region_brightness(volume, target, mask) -> dict:
    """How bright ``volume`` is where ``target`` is bright and where it is dark
    (``PAIRED_DEFINITIONS["bright"]`` and ``["dark"]``; None for an empty region), with the
    regions' voxel counts. Both volumes non-negative on one robust scale or each on its own."""
    volume, target, mask = np.asarray(volume), np.asarray(target), np.asarray(mask, bool)
    median_t, median_v = float(np.median(target[mask])), float(np.median(volume[mask]))
    out = {}
    regions = {"bright": mask & (target > 2 * median_t), "dark": mask & (target < median_t / 2)}
    for name, region in regions.items():
        count = int(region.sum())
        out[name] = round(float(volume[region].mean()) / median_v, 4) if count and median_v > 0 else None
        out[f"{name}_voxels"] = count
    return out


# ----------------------------------------------------------------------- distribution metrics

def _activations(x, name: str) -> np.ndarray:
    arr = np.asarray(x, np.float64)
    if arr.ndim != 2 or len(arr) < 2:
        raise ValueError(f"{name}: expected [N >= 2, D] activations, got shape {arr.shape}")
    return arr


def fid(act_a, act_b) -> float:
    """Frechet distance between Gaussians fitted to two activation sets [N, D]."""
    a, b = _activations(act_a, "act_a"), _activations(act_b, "act_b")
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    covmean = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(covmean).all():  # singular product: regularise both sides
        eps = 1e-6 * np.eye(len(cov_a))
        covmean = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    covmean = np.real(covmean)
    value = np.sum(np.square(mu_a - mu_b)) + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(covmean)
    return float(max(value, 0.0))


def kid(act_a, act_b, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> dict:
    """Unbiased MMD^2 with the cubic polynomial kernel over random subsets: mean and std."""
    a, b = _activations(act_a, "act_a"), _activations(act_b, "act_b")
    m = min(subset_size, len(a), len(b))
    d = a.shape[1]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        off = m * (m - 1)
        values.append((kxx.sum() - np.trace(kxx)) / off + (kyy.sum() - np.trace(kyy)) / off
                      - 2 * kxy.mean())
    values = np.array(values)
    return {"mean": float(values.mean()), "std": float(values.std()), "subsets": subsets,
            "subset_size": m}


def _knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance of each row to its k-th nearest other row."""
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    return dist[:, k]


def prdc(real, fake, k: int = 5) -> dict:
    """Precision, recall, density and coverage on k-NN manifolds (Naeem et al. 2020)."""
    r, f = _activations(real, "real"), _activations(fake, "fake")
    if k >= min(len(r), len(f)):
        raise ValueError(f"k={k} needs more than {k} samples in each set")
    r_radii, f_radii = _knn_radii(r, k), _knn_radii(f, k)
    in_real = np.zeros(len(f), np.int64)        # real balls holding each fake sample
    recalled = np.zeros(len(r), bool)           # real samples inside some fake ball
    nearest_fake = np.full(len(r), np.inf)      # distance of each real sample to its nearest fake
    start = 0
    for block in pairwise_distances_chunked(f, r):     # rows: fake samples, columns: real samples
        rows = slice(start, start + len(block))
        in_real[rows] = (block <= r_radii[None, :]).sum(axis=1)
        recalled |= (block <= f_radii[rows, None]).any(axis=0)
        nearest_fake = np.minimum(nearest_fake, block.min(axis=0))
        start += len(block)
    return {"precision": float((in_real > 0).mean()), "recall": float(recalled.mean()),
            "density": float(in_real.sum() / (k * len(f))),
            "coverage": float((nearest_fake <= r_radii).mean()), "k": k}


def compare_activations(real_act, fake_act, feature_network_name: str, k: int = 5,
                        kid_subsets: int = 100, kid_subset_size: int = 1000, seed: int = 0,
                        feature_network_definition: str | None = None) -> dict:
    """FID, KID and PRDC of two activation sets, named (and described) by the network that made them."""
    out = {"fid": fid(real_act, fake_act),
           "kid": kid(real_act, fake_act, kid_subsets, kid_subset_size, seed)}
    out.update(prdc(real_act, fake_act, k))
    out.update(feature_network=feature_network_name, n_real=len(real_act), n_fake=len(fake_act),
               definitions=dict(DISTRIBUTION_DEFINITIONS,
                                feature_network=feature_network_definition or feature_network_name))
    return out
