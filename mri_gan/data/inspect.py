"""What a data source holds (``data inspect``) and a picture of it (``data preview``)."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from mri_gan.atomic import atomic_file, check
from mri_gan.data import preprocess
from mri_gan.data.reader import Reader
from mri_gan.data.records import SEQUENCES
from mri_gan.data.slice_set import SliceSet, from_records
from mri_gan.errors import UserError


def summarize(reader: Reader, size: int | None = None) -> dict:
    """Counts over every record of a reader, in the shape of ``data inspect --json``.

    ``subjects``, ``slices``, ``sequences`` (slices that have each), ``labels`` (slices per
    label), ``image_shapes`` (``"<rows>x<cols>"`` as read, before resizing), ``skipped`` (files
    passed over, by reason) and ``missing_sequences`` (subject -> sequences that other subjects
    of the source have and it lacks). With ``size``, the slices are also preprocessed as for
    training (resized to size x size, [-1, 1]) and ``preprocessed`` gives the array's shape,
    megabytes and value range, and, where the source has tumour masks, ``lesion_brightness``
    (see that function).
    """
    subjects: dict[str, set] = defaultdict(set)
    sequences, labels, shapes = Counter(), Counter(), Counter()
    count = 0

    def tally(records):
        nonlocal count
        for rec in records:
            count += 1
            subjects[rec.subject].update(rec.images)
            sequences.update(rec.images.keys())
            if rec.label is not None:
                labels[rec.label] += 1
            shapes["x".join(map(str, rec.shape))] += 1
            yield rec

    preprocessed = None
    if size:
        slices = from_records(tally(reader.records()), size, source=reader.source, kind=reader.kind)
        preprocessed = {"size": size, "shape": list(slices.images.shape),
                        "megabytes": round(slices.images.nbytes / 2 ** 20, 1),
                        "range": [float(slices.images.min()), float(slices.images.max())]}
        brightness = lesion_brightness(slices)
    else:
        for _ in tally(reader.records()):
            pass
    present = set(sequences)
    summary = {
        "kind": reader.kind,
        "subjects": len(subjects),
        "slices": count,
        "sequences": {s: sequences[s] for s in SEQUENCES if s in sequences},
        "labels": dict(sorted(labels.items())),
        "image_shapes": dict(shapes.most_common()),
        "skipped": dict(sorted(reader.skipped.items())),
        "missing_sequences": {subject: [s for s in SEQUENCES if s in present - have]
                              for subject, have in subjects.items() if present - have},
    }
    if preprocessed:
        summary["preprocessed"] = preprocessed
        if brightness:
            summary["lesion_brightness"] = brightness
    return summary


def lesion_brightness(slices: SliceSet) -> dict[str, float]:
    """How bright the tumours are in each sequence: per subject, the mean intensity inside the
    tumour masks over the median intensity in the brain (both on the preprocessed scale, shifted
    to [0, 1]), then the mean over subjects with tumour pixels. 1 = the sequence does not show
    the tumours, above 1 = brighter, below = darker. {} when the source has no tumour masks."""
    out, subjects = {}, np.asarray(slices.subjects)
    with_lesions = np.unique(subjects[(slices.tumor_mask & slices.brain_mask).any(axis=(1, 2))])
    for k, seq in enumerate(SEQUENCES):
        ratios = []
        for subject in with_lesions:
            rows = np.flatnonzero((subjects == subject) & slices.available[:, k])
            values = (slices.images[rows, ..., k] + 1) / 2
            brain = slices.brain_mask[rows]
            lesion = brain & slices.tumor_mask[rows]
            median = float(np.median(values[brain])) if brain.any() else 0.0
            if lesion.any() and median > 0:
                ratios.append(float(values[lesion].mean()) / median)
        if ratios:
            out[seq] = round(float(np.mean(ratios)), 3)
    return out


def format_summary(summary: dict, source: str) -> str:
    """The human-readable form of ``summarize``'s result."""
    def counts(d: dict, most: int = 8) -> str:
        shown = ", ".join(f"{k} {v}" for k, v in list(d.items())[:most]) or "none"
        return shown + (f", and {len(d) - most} more" if len(d) > most else "")

    lines = [f"source:        {source} ({summary['kind']})",
             f"subjects:      {summary['subjects']}",
             f"slices:        {summary['slices']}",
             f"sequences:     {counts(summary['sequences'])}",
             f"labels:        {counts(summary['labels'])}",
             f"image shapes:  {counts(summary['image_shapes'])}",
             f"skipped:       {counts(summary['skipped'])}"]
    for subject, missing in summary["missing_sequences"].items():
        lines.append(f"missing:       {subject} lacks {', '.join(missing)}")
    if "preprocessed" in summary:
        p = summary["preprocessed"]
        lines.append(f"preprocessed:  {'x'.join(map(str, p['shape']))} float32, {p['megabytes']} MB, "
                     f"values in [{p['range'][0]:.3g}, {p['range'][1]:.3g}]")
    if "lesion_brightness" in summary:
        shown = ", ".join(f"{seq} {v:.2f}" for seq, v in summary["lesion_brightness"].items())
        lines.append(f"lesion/brain:  {shown} (tumour mean / brain median)")
    return "\n".join(lines)


def spread(names: list[str], labels: list, n: int) -> list[str]:
    """Up to ``n`` names: labels in turn, evenly spaced within each label, in their original order."""
    groups: dict = defaultdict(list)
    for i, label in enumerate(labels):
        groups[label].append(i)
    quota = Counter()
    while sum(quota.values()) < min(n, len(names)):
        for label, members in groups.items():
            if quota[label] < len(members) and sum(quota.values()) < n:
                quota[label] += 1
    picked = [members[int(j)] for label, members in groups.items()
              for j in np.linspace(0, len(members) - 1, quota[label]).round()]
    return [names[i] for i in sorted(picked)]


def _thumb(image: np.ndarray, cell: int) -> np.ndarray:
    return np.round(np.clip(preprocess.resize_image(image, cell), 0, 1) * 255).astype(np.uint8)


def preview(reader: Reader, out: Path, subjects: int = 4, cell: int = 128,
            overwrite: bool = False) -> tuple[int, int]:
    """Write a PNG grid: rows = subjects spread over the source, columns = sequences (an
    existing ``out`` is replaced only with ``overwrite``).

    Subjects are picked across labels (see ``spread``). Each row shows one slice of the
    subject: the one with the most tumour where tumour masks exist, else the one with the most
    brain. Tumour masks are outlined in red. Returns (rows, columns).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = check(out, overwrite)
    if out.suffix.lower() != ".png":
        raise UserError(out, "the preview is a PNG: name it <something>.png")
    best: dict[str, tuple] = {}
    present: set = set()
    for rec in reader.records():
        key = (int(rec.tumor_mask.sum()) if rec.tumor_mask is not None else 0, int(rec.brain_mask.sum()))
        present.update(rec.images)
        if rec.subject not in best or key > best[rec.subject][0]:
            tumor = preprocess.resize_mask(rec.tumor_mask, cell) if rec.tumor_mask is not None else None
            best[rec.subject] = (key, rec.label, {s: _thumb(im, cell) for s, im in rec.images.items()}, tumor)
    chosen = spread(list(best), [best[name][1] for name in best], subjects)
    columns = [s for s in SEQUENCES if s in present]
    fig, axes = plt.subplots(len(chosen), len(columns), squeeze=False,
                             figsize=(1.6 * len(columns) + 0.6, 1.6 * len(chosen) + 0.3), dpi=100)
    for r, subject in enumerate(chosen):
        _, label, thumbs, tumor = best[subject]
        for c, seq in enumerate(columns):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if seq in thumbs:
                ax.imshow(thumbs[seq], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
                if tumor is not None and tumor.any():
                    ax.contour(tumor, levels=[0.5], colors="red", linewidths=0.8)
            else:
                ax.set_facecolor("0.85")
                ax.text(0.5, 0.5, "missing", ha="center", va="center", fontsize=8, transform=ax.transAxes)
            if r == 0:
                ax.set_title(seq, fontsize=9)
            if c == 0:
                short = subject if len(subject) <= 22 else "…" + subject[-21:]
                ax.set_ylabel(short + (f"\n{label}" if label else ""), fontsize=7)
    fig.tight_layout(pad=0.3)
    try:
        with atomic_file(out, overwrite) as tmp:
            fig.savefig(tmp, format="png")
    except OSError as err:
        raise UserError(out, f"cannot write the preview ({err.strerror or err})") from None
    finally:
        plt.close(fig)
    return len(chosen), len(columns)
