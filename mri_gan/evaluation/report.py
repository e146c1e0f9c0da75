"""Reports of evaluated runs on disk: metrics.json, report.md, a self-contained report.html, figures.

``write_report`` writes a report folder all at once; ``load_evaluations`` reads one back (from
`mri-gan evaluate` or `mri-gan report`) so that reports can be merged without recomputing them.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from mri_gan.atomic import atomic_folder
from mri_gan.errors import UserError
from mri_gan.evaluation.document import Picture, build_blocks, to_html, to_markdown
from mri_gan.evaluation.evaluate import Evaluation, training_curves
from mri_gan.evaluation.figures import draw
from mri_gan.evaluation.flags import flags as find_flags
from mri_gan.evaluation.tables import clean, table1

KIND_EVALUATION = "mri_gan.evaluation"
KIND_REPORT = "mri_gan.report"
DOCUMENT_KEYS = ("kind", "name", "table1", "created", "figures", "flags", "flags_definition")   # not a run's
FLAGS_DEFINITION = ("figures that mean little, one line each: a FID or KID below what real training images score "
                    "against the same held-out slices, a negative KID, a classifier at chance (balanced accuracy "
                    "within 0.05 of 0.5), a two-sample accuracy of 0.95 or more, a real-vs-synthetic classifier "
                    "below 0.6 on its own training images, a model below a trivial baseline, a demo budget")


def save_evaluation_arrays(ev: Evaluation, folder: Path) -> None:
    """What a later `mri-gan report` needs to redraw the figures: curves.json and arrays.npz."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "curves.json").write_text(json.dumps(clean(ev.curves)) + "\n")
    np.savez_compressed(folder / "arrays.npz", **{k: np.asarray(v) for k, v in ev.arrays.items()})


def _kind(folder) -> str | None:
    try:
        return json.loads((Path(folder) / "metrics.json").read_text()).get("kind")
    except (OSError, json.JSONDecodeError, AttributeError):
        return None


def is_evaluation(folder) -> bool:
    """Whether ``folder`` was written by `mri-gan evaluate` or `mri-gan report` (and can be reused)."""
    return _kind(folder) in (KIND_EVALUATION, KIND_REPORT)


def _extras(folder: Path, metrics: dict) -> tuple[dict, dict]:
    """curves.json and arrays.npz of a saved evaluation; the training curves from the run's
    metrics.jsonl and no arrays (figures that need them are left out) when they are missing."""
    if (folder / "curves.json").is_file():
        curves = json.loads((folder / "curves.json").read_text())
    else:
        curves = {"training": training_curves(metrics["run"]["dir"])}
    arrays = {}
    if (folder / "arrays.npz").is_file():
        with np.load(folder / "arrays.npz") as z:
            arrays = {k: z[k] for k in z.files}
    return curves, arrays


def load_evaluations(folder) -> list[Evaluation]:
    """The evaluations in a folder written by `mri-gan evaluate` (one) or `mri-gan report` (each run,
    from ``evaluations/<name>/``)."""
    folder = Path(folder)
    try:
        data = json.loads((folder / "metrics.json").read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(folder / "metrics.json", f"cannot read: {err}") from None
    if data.get("kind") == KIND_EVALUATION:
        metrics = {k: v for k, v in data.items() if k not in DOCUMENT_KEYS}
        return [Evaluation(data.get("name", folder.name), metrics, *_extras(folder, metrics))]
    if data.get("kind") == KIND_REPORT:
        return [Evaluation(name, m, *_extras(folder / "evaluations" / name, m)) for name, m in data["runs"].items()]
    raise UserError(folder, f"not an `mri-gan evaluate` or `mri-gan report` output (kind {data.get('kind')!r})")


def _unique_names(evals: list[Evaluation]) -> list[Evaluation]:
    seen: dict[str, int] = {}
    for ev in evals:
        base = ev.name
        seen[base] = seen.get(base, 0) + 1
        if seen[base] > 1:
            ev.name = f"{base}-{seen[base]}"
    return evals


def _pictures(pictures: list[Picture], folder: Path) -> tuple[list, list]:
    """Copy each picture into ``folder``: (its metrics.json ``figures`` entries, its blocks)."""
    entries, blocks = [], []
    for picture in pictures:
        path = folder / f"{picture.key}.png"
        shutil.copyfile(picture.path, path)
        entries.append({"run": None, "figure": picture.key, "file": f"{folder.name}/{path.name}",
                        "caption": picture.caption, "heading": picture.heading, "text": picture.text})
        blocks += [("h", 2, picture.heading), ("p", picture.text), ("fig", path, picture.caption)]
    return entries, blocks


def write_report(evals: list[Evaluation], out, command: str, pictures: list[Picture] = (),
                 overwrite: bool = False) -> Path:
    """Write OUT/metrics.json, report.md, report.html and figures/*.png (all at once, replacing an
    existing OUT only with ``overwrite``); ``pictures`` follow the summary.

    One evaluation: metrics.json holds it at the top level with ``table1``, ``flags`` and
    ``figures``, plus curves.json and arrays.npz so `mri-gan report` can reuse the folder. Several:
    ``{"kind": "mri_gan.report", "command", "runs": {name: evaluation}, "table1", "flags", ...}``
    and ``evaluations/<name>/`` with each run's curves and arrays."""
    evals = _unique_names(list(evals))
    for ev in evals:
        ev.metrics = clean(ev.metrics)
    runs = {ev.name: ev.metrics for ev in evals}
    table = clean(table1(runs))
    flags = clean(find_flags(runs))
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if len(evals) == 1:
        document = {"kind": KIND_EVALUATION, "name": evals[0].name, "created": created, **evals[0].metrics}
    else:
        document = {"kind": KIND_REPORT, "command": command, "created": created, "runs": runs}
    document.update(table1=table, flags=flags, flags_definition=FLAGS_DEFINITION)
    with atomic_folder(out, overwrite) as tmp:
        figures = draw(evals, tmp / "figures")
        entries, extra = _pictures(list(pictures), tmp / "figures")
        document["figures"] = [{"run": run or None, "figure": key, "file": f.path.relative_to(tmp).as_posix(),
                                "caption": f.caption} for (run, key), f in figures.items()] + entries
        blocks = build_blocks(runs, table, command, figures, flags, extra)
        (tmp / "metrics.json").write_text(json.dumps(document, indent=1, allow_nan=False) + "\n")
        (tmp / "report.md").write_text(to_markdown(blocks, tmp))
        (tmp / "report.html").write_text(to_html(blocks))
        if len(evals) == 1:
            save_evaluation_arrays(evals[0], tmp)
        else:
            for ev in evals:
                save_evaluation_arrays(ev, tmp / "evaluations" / ev.name)
    return Path(out) / "report.html"
