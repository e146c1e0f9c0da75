"""The whole pipeline on the embedded phantom in a few CPU minutes (`make demo`).

Steps, all in one process: a preview of the data; a cDCGAN (tumour / no-tumour T1 slices) and a
Pix2Pix T1 -> FLAIR trained with small budgets; samples of the cDCGAN; VGG19 weights for style
transfer (ImageNet from the Keras cache when present, else the project's MRI VGG19 trained here
with a tiny budget); the evaluation of each run with style refinement of its outputs; last,
``fill`` with the imputation model shipped with the package (mri_gan.pretrained) on a phantom
case whose T1ce and FLAIR were removed (skipped, with a line saying so, where the package holds
no shipped model); one report of it all, the fill's qc.png included. The report's path is
printed last.

Every step longer than a few seconds shows a progress bar (training, VGG19 pretraining, the
evaluations' classifiers and style transfer, fill). The output folder holds ``demo.json``
(budget, steps done, seconds per step, the report's path). A folder holding an earlier demo is
replaced; any other non-empty folder is refused. The demo ends with three commands to try next.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mri_gan import progress as inner_progress
from mri_gan.errors import UserError
from mri_gan.evaluation import classifiers
from mri_gan.evaluation.budgets import BUDGETS, Budget

MARKER = "demo.json"


@dataclass(frozen=True)
class DemoBudget:
    """Data, typed training overrides (``config.resolve``), VGG pretraining and evaluation budget of a demo."""

    name: str
    source: str
    preset: str
    cdcgan: dict = field(default_factory=dict)
    pix2pix: dict = field(default_factory=dict)
    vgg: dict = field(default_factory=dict)          # pretrain: size, steps, batch_size
    evaluation: Budget = BUDGETS["smoke"]
    samples: int = 16
    fill_size: int = 128                             # in-plane size of the phantom case filled
    fill_samples: int = 8                            # test-time draws per uncertainty map


DEMO_BUDGETS = {
    # minutes on 2 idle cores; the cDCGAN keeps the quick preset's widths and batch (at 16 filters
    # and batch 16 its G stayed noise for 400 steps on the phantom)
    "demo": DemoBudget(
        "demo", "phantom?subjects=24&size=64", "quick",
        cdcgan={"image_size": 64, "steps": 300, "log_every": 10, "sample_every": 100, "checkpoint_every": 150},
        pix2pix={"image_size": 64, "batch_size": 8, "steps": 400, "unet_depth": 6, "unet_filters": 16,
                 "d_filters": 16, "log_every": 10, "sample_every": 100, "checkpoint_every": 200, "val_every": 100},
        vgg={"size": 64, "steps": 40, "batch_size": 8},
        # the real-vs-synthetic CNN tells these samples apart in a few hundred steps (2000, the evaluation's
        # default, took two thirds of the demo); 32 stylized images are as many as the figures show
        evaluation=Budget("demo", per_class=48, style_steps=10, style_images=32, seeds=(0, 1, 2),
                          classifier=classifiers.Budget(epochs=5), kid_subsets=20,
                          two_sample=classifiers.Budget(epochs=5, filters=16, min_steps=300))),
    # seconds, for tests
    "smoke": DemoBudget("smoke", "phantom?subjects=12&size=32", "smoke", vgg={"size": 32, "steps": 2, "batch_size": 4},
                        evaluation=BUDGETS["smoke"], samples=4, fill_size=32, fill_samples=2),
}
#: the phantom case the demo fills (a seed whose subject has a tumour) and the sequences removed
FILL_CASE, FILL_SEED, FILL_REMOVED = "phantom-001", 1, ("t1ce", "flair")
#: the steps, in order (the counter of the log lines)
STEPS = ("preview", "train cdcgan", "train pix2pix", "vgg19 weights", "evaluate cdcgan", "evaluate pix2pix",
         "fill", "report")
CASE = "runs/cases/phantom-001/phantom-001"
NEXT = ("mri-gan data phantom --out runs/cases --subjects 2      # two phantom patients as NIfTI cases",
        f"mri-gan fill {CASE}_t1.nii.gz {CASE}_t2.nii.gz --out runs/filled      # T1ce and FLAIR from T1 + T2",
        f"mri-gan synthesize --input t1={CASE}_t1.nii.gz --target flair --out runs/flair.nii.gz "
        f"--compare {CASE}_flair.nii.gz      # FLAIR from T1 alone, scored against the real one")


def _prepare(out: Path) -> None:
    """Empty ``out``, replacing an earlier demo; refuse a folder that holds anything else."""
    if out.exists():
        if not out.is_dir():
            raise UserError(out, "exists and is not a folder")
        if any(out.iterdir()):
            if not (out / MARKER).is_file():
                raise UserError(out, "exists, is not empty and holds no earlier demo; choose another --out")
            shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def _vgg_weights(out: Path, budget: DemoBudget, log) -> str:
    """ImageNet weights from the Keras cache, else MRI weights trained here with a tiny budget."""
    from mri_gan.style import pretrain, vgg

    if vgg.keras_cache_file().is_file():
        log(f"VGG19: ImageNet weights from the Keras cache ({vgg.keras_cache_file()})")
        return "imagenet"
    folder = out / "vgg19_mri"
    log(f"VGG19: no ImageNet weights cached; training MRI VGG19 weights ({budget.vgg['steps']} steps) into {folder}")
    with inner_progress.bar("VGG19 pretraining", budget.vgg["steps"]) as bar:
        pretrain.pretrain(budget.source, folder, size=budget.vgg["size"], steps=budget.vgg["steps"],
                          batch_size=budget.vgg["batch_size"], progress=lambda *_: bar.update())
    return str(folder)


def _fill_phantom(out: Path, budget: DemoBudget, log, progress: bool):
    """``fill`` with the shipped model on a phantom case lacking FILL_REMOVED (moved to
    ``phantom-removed/`` for comparison); the report's Picture of its qc.png."""
    from tqdm import tqdm

    from mri_gan import inference, pretrained
    from mri_gan.data.phantom import write_phantom_case
    from mri_gan.evaluation.document import Picture
    from mri_gan.fill import fill, model_record
    from mri_gan.synthesis import task_translator

    case = write_phantom_case(out / "phantom-case", FILL_SEED, FILL_CASE, budget.fill_size)
    removed = out / "phantom-removed"
    removed.mkdir()
    for seq in FILL_REMOVED:
        (case / f"{FILL_CASE}_{seq}.nii.gz").rename(removed / f"{FILL_CASE}_{seq}.nii.gz")
    log("fill: loading the imputation model shipped with the package")
    task = inference.load_task(pretrained.NAME)
    with tqdm(desc="fill", unit=" batches", disable=not progress, leave=False) as bar:
        record = fill([str(case)], out / "fill", task_translator(task), samples=budget.fill_samples,
                      model=model_record(task, pretrained.NAME), progress=lambda text: log(f"fill: {text}"),
                      tick=bar.update)
    shipped = task.meta["shipped"]
    given, made = record["given"], [e["sequence"] for e in record["synthesized"]]
    text = (f"`mri-gan fill {case} --out {out / 'fill'} --samples {budget.fill_samples}` with the model shipped "
            f"with the package ({shipped['name']}, version {shipped['version']}; no `--run`) on a phantom case "
            f"whose {' and '.join(FILL_REMOVED)} were removed (kept in `{removed}` for comparison). What the "
            f"model was trained on and where it fails: `{pretrained.FOLDER / pretrained.CARD}`.")
    caption = (f"qc.png of that fill: one row per given sequence ({', '.join(given)}), then per synthesized "
               f"sequence ({', '.join(made)}) its synthesis and its uncertainty (standard deviation over "
               f"{budget.fill_samples} test-time draws); axial, coronal and sagittal views through the centre "
               f"of the voxels brighter than twice the brain median in {'flair' if 'flair' in given else 't2'} "
               f"(the brain's centre where there are none); each row in its own colour scale, its bar at the right "
               "(the top colour: the row's 99.5th percentile and above)")
    return Picture("fill_qc", out / "fill" / "qc.png", "Filling missing sequences with the shipped model",
                   text, caption)


def run_demo(out="runs/demo", budget: str | DemoBudget = "demo", log=print, progress: bool = True) -> Path:
    """Run the demo into ``out``; returns the path of the report's HTML file."""
    from mri_gan import inference, pretrained
    from mri_gan.config import resolve
    from mri_gan.data.inspect import preview
    from mri_gan.data.source import open_source
    from mri_gan.evaluation.evaluate import evaluate_run
    from mri_gan.evaluation.report import write_report
    from mri_gan.training.trainer import Trainer

    if not isinstance(budget, DemoBudget):
        if budget not in DEMO_BUDGETS:
            raise UserError("--budget", f"unknown demo budget {budget!r} (known: {', '.join(DEMO_BUDGETS)})")
        budget = DEMO_BUDGETS[budget]
    out = Path(out)
    _prepare(out)
    state = {"budget": asdict(budget), "source": budget.source, "done": [], "seconds": {}}
    marker = out / MARKER
    began = time.perf_counter()

    def step(name, fn, text):
        log(f"[{STEPS.index(name) + 1}/{len(STEPS)}] {text}")
        start = time.perf_counter()
        with inner_progress.shown(progress):
            result = fn()
        state["done"].append(name)
        state["seconds"][name] = round(time.perf_counter() - start, 1)
        state["seconds"]["total"] = round(time.perf_counter() - began, 1)
        marker.write_text(json.dumps(state, indent=1, default=str) + "\n")
        return result

    marker.write_text(json.dumps(state, indent=1, default=str) + "\n")
    log(f"demo ({budget.name} budget) on {budget.source} into {out}")
    step("preview", lambda: preview(open_source(budget.source), out / "data_preview.png"),
         f"data preview: {out / 'data_preview.png'}")
    runs = {"cdcgan": (resolve("cdcgan", budget.preset, budget.source, budget.cdcgan)),
            "pix2pix": resolve("pix2pix", budget.preset, budget.source,
                               dict(budget.pix2pix, source=["t1"], target="flair"))}
    for name, cfg in runs.items():
        step(f"train {name}", lambda cfg=cfg, name=name: Trainer(cfg, out / name, progress=progress).fit(),
             f"training {name} ({cfg.steps} steps of {cfg.batch_size} at {cfg.image_size} px) into {out / name}")
    task = inference.load_task(out / "cdcgan")
    images, labels = inference.generate(task, budget.samples, None, 0)
    inference.write_generated(images, labels, task.meta["label_names"], out / "cdcgan-samples")
    log(f"cDCGAN samples: {out / 'cdcgan-samples'}")
    weights = step("vgg19 weights", lambda: _vgg_weights(out, budget, log), "VGG19 weights for style transfer")
    evals = []
    for name in runs:
        command = (f"mri-gan evaluate --run {out / name} --out {out / ('evaluate-' + name)} "
                   f"--vgg-weights {weights} (evaluation budget {budget.evaluation.name} of mri-gan demo)")
        ev = step(f"evaluate {name}", lambda name=name, command=command: evaluate_run(
            out / name, budget.source, None, "auto", budget.evaluation, weights, 0, command=command),
            f"evaluating {name} with style refinement ({budget.evaluation.style_steps} iterations)")
        write_report([ev], out / f"evaluate-{name}", command)
        evals.append(ev)
    pictures = []
    if pretrained.available():
        pictures.append(step("fill", lambda: _fill_phantom(out, budget, log, progress),
                             "fill: the missing sequences of a phantom case, by the model shipped with the package"))
    else:
        log(f"fill: skipped (this installation holds no shipped model in {pretrained.FOLDER})")
    command = f"mri-gan demo --out {out} --budget {budget.name}"
    report = step("report", lambda: write_report(evals, out / "report", command, pictures), "the report")
    state["report"] = str(report)
    marker.write_text(json.dumps(state, indent=1, default=str) + "\n")
    log(f"report: {report}")
    log(f"done in {state['seconds']['total']:.0f} s (seconds per step in {marker})")
    log("try next (after `source .venv/bin/activate`, or write .venv/bin/mri-gan for mri-gan):")
    for line in NEXT:
        log(f"  {line}")
    return report
