"""The training loop shared by every model family.

One ``tf.function`` wraps ``strategy.run(task.replica_step)`` and reduces its logs. Batches are
built in the graph, deterministically from (seed, step) (mri_gan.data.pipeline): the order of
examples is a permutation per epoch and every random draw of a step (noise, flips, warps, hidden
sequences) comes from stateless random ops seeded by the step. The step counter in the
checkpoint is therefore the whole random state, and ``--resume`` continues exactly where a run
stopped.
"""

from __future__ import annotations

import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from mri_gan import allocator, notices
from mri_gan.config import TrainConfig, differences
from mri_gan.data import pipeline, slice_set
from mri_gan.data import split as splits
from mri_gan.data.file_access import os_reason
from mri_gan.data.preprocess import to_uint8
from mri_gan.errors import UserError
from mri_gan.models import task_class
from mri_gan.run_dir import RunDir
from mri_gan.training import checkpoints, precision, runtime
from mri_gan.training.distribute import is_chief, make_strategy, per_replica_batch


class TrainingStopped(Exception):
    """Training stopped on its own (non-finite loss); the last good checkpoint is kept."""


def load_data(cfg: TrainConfig) -> tuple[slice_set.SliceSet, dict | None]:
    """The run's slices and its reader's preprocessing (``Reader.preprocessing``)."""
    data, reader = slice_set.load(cfg.data, cfg.image_size)
    return data, reader.preprocessing()


def run_meta(cfg: TrainConfig, data: slice_set.SliceSet, preprocessing: dict | None = None) -> dict:
    """What inference needs besides the config: label names, channels, normalisation, and the
    preprocessing that synthesis applies again (the reader's, at the model's size)."""
    names = ["no_tumor", "tumor"] if cfg.label_view == "binary" else list(data.label_names)
    return {"label_names": names, "sequences": list(cfg.family.sequences), "data_kind": data.kind,
            "normalisation": "images scaled to [0, 1] per source (8-bit / 255; volumes and "
                             "slice sets: brain p0.5 -> 0, median -> 0.35, clipped), then "
                             "mapped to [-1, 1]",
            "preprocessing": None if preprocessing is None else
            dict(preprocessing, source_kind=data.kind, image_size=cfg.image_size)}


@dataclass
class _Run:
    """What one ``Trainer.fit`` trains and writes, and the loop's running state."""

    task: object
    data: slice_set.SliceSet
    train_index: np.ndarray
    val_data: slice_set.SliceSet
    out: RunDir                    # the folder this worker writes to
    step: tf.Variable
    epoch: tf.Variable
    manager: tf.train.CheckpointManager
    best_manager: tf.train.CheckpointManager
    best: float                    # the best validation figure so far
    start: int                     # the step training starts from
    total: int                     # the step budget
    writer: object = None
    bar: object = None
    last: dict = field(default_factory=dict)   # the last logged entry
    tick: float = 0.0              # when throughput was last measured
    tick_images: int = 0           # images trained since
    waited: float = 0.0            # seconds in next(iterator) since


class Trainer:
    """Trains one task into a run directory (mri_gan.run_dir)."""

    def __init__(self, cfg: TrainConfig, run_dir, strategy: str = "auto", resume: bool = False,
                 data: slice_set.SliceSet | None = None, progress: bool = True, split_file=None):
        self.cfg = cfg
        self.split_file = split_file
        if split_file:
            splits.load_split(split_file)   # unreadable or malformed: refused before the data is read
        self.run = RunDir(run_dir)
        self.resume = resume
        self.progress = progress
        self._data = data
        self.strategy = make_strategy(strategy)
        self.chief = is_chief(self.strategy)
        self.batch = cfg.batch_size
        per_replica_batch(cfg.batch_size, self.strategy)  # refuse an indivisible batch early
        if cfg.jit_compile and self.strategy.num_replicas_in_sync > 1:
            raise UserError("--set jit_compile", f"XLA compiles the step for one replica; this strategy "
                                                 f"has {self.strategy.num_replicas_in_sync}")
        self._signal = None

    # -- run directory -----------------------------------------------------------------------
    def _check_dir(self) -> None:
        """Refuse a run directory that cannot take this run, before anything is read or created."""
        config_path = self.run.config_file
        existing = next(p for p in (self.run.path, *self.run.path.parents) if p.exists())
        if not existing.is_dir():
            raise UserError(existing, "is a file, not a folder; choose another --out")
        if self.resume:
            if not self.run.is_run():
                raise UserError(self.run.path, f"no run to resume ({config_path.name} missing)")
            saved = self.run.config()
            diff = differences(saved, self.cfg)
            if diff:
                key = diff[0]
                raise UserError(config_path, f"resume refused: {key} differs (run has "
                                             f"{saved.flat().get(key)!r}, given {self.cfg.flat().get(key)!r})")
        elif self.chief and self.run.is_run():
            raise UserError(self.run.path, "already holds a run; pass --resume or another --out")

    def _make_dir(self) -> tuple[RunDir, Path | None]:
        """(the folder this worker writes to: the run dir on the chief, a temporary one elsewhere;
        the topmost folder this call created, None when the run dir existed)."""
        if not self.chief:
            out = Path(tempfile.mkdtemp(prefix="mri_gan_worker_"))
            return RunDir(out), out
        missing = [p for p in (self.run.path, *self.run.path.parents) if not p.exists()]
        try:
            self.run.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise UserError(self.run.path, f"cannot create the run folder ({os_reason(err)})") from None
        return self.run, missing[-1] if missing else None

    # -- data feeding ------------------------------------------------------------------------
    def _dataset(self, task, data, train_index, steps: range, batch: int, offset: int):
        """Distributed dataset of the steps in ``steps`` (global batch ``batch``), whose first
        example is number ``offset`` of the stream; each input pipeline builds its replicas' rows."""
        b = per_replica_batch(batch, self.strategy)
        source = task.source(data)

        def dataset_fn(ctx: tf.distribute.InputContext):
            per_worker = self.strategy.num_replicas_in_sync // ctx.num_input_pipelines
            first = ctx.input_pipeline_id * per_worker
            return pipeline.training_batches(task, source, train_index, steps, batch, offset, self.cfg.seed,
                                             range(first, first + per_worker), b)

        return self.strategy.distribute_datasets_from_function(dataset_fn)

    def _step_function(self, task, batch: int):
        """One tf.function per segment: strategy.run(replica_step), logs reduced over replicas
        (the replica step XLA-compiled when ``cfg.jit_compile``), run without grappler's remapper.

        The remapper fuses Conv2D + BiasAdd + LeakyRelu although LeakyReluGrad still reads the
        BiasAdd output; the rewrite then fails for the whole step graph, which stays as it was,
        and TensorFlow logs an error line. Off for this function only, it is never tried."""
        replica_step = task.replica_step
        if self.cfg.jit_compile:
            replica_step = tf.function(replica_step, jit_compile=True)

        @tf.function
        def train_step(inputs):
            per_replica = self.strategy.run(replica_step, args=(inputs, batch))
            return {k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
                    for k, v in per_replica.items()}

        def without_remapper(inputs):
            before = tf.config.optimizer.get_experimental_options().get("remapping", True)
            tf.config.optimizer.set_experimental_options({"remapping": False})
            try:
                return train_step(inputs)
            finally:
                tf.config.optimizer.set_experimental_options({"remapping": before})

        return without_remapper

    # -- signals -----------------------------------------------------------------------------
    def _on_signal(self, signum, _frame):
        self._signal = signum

    # -- the loop ----------------------------------------------------------------------------
    def fit(self) -> dict:
        """Train to the budget; returns the last logged values. Raises TrainingStopped on NaN."""
        run = self._set_up()
        notices.release()  # the run is accepted: warnings about its data are due now
        segments = run.task.segments(run.total)
        run.writer = tf.summary.create_file_writer(str(run.out.tensorboard_dir))
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        run.bar = tqdm(total=run.total, initial=run.start, disable=not (self.chief and self.progress),
                       unit="step", mininterval=1.0, file=sys.stderr, dynamic_ncols=True)
        run.tick = time.perf_counter()
        seen = 0  # examples of the stream consumed before the current segment
        try:
            for seg_start, seg_end, batch in segments:
                steps = range(max(run.start, seg_start), min(seg_end, run.total))
                offset = seen + (steps.start - seg_start) * batch
                seen += (seg_end - seg_start) * batch
                if len(steps):
                    self._segment(run, steps, batch, offset)
        finally:
            run.bar.close()
            for s, handler in previous.items():
                signal.signal(s, handler)
            run.writer.close()
            keras.mixed_precision.set_global_policy("float32")
            if not self.chief:
                shutil.rmtree(run.out.path, ignore_errors=True)
        self.task = run.task
        return run.last

    def _set_up(self) -> _Run:
        """Check the run directory, split the data, build (or restore) the task and its checkpoint
        managers, and write the run's config, split and model.json. A failure leaves no half-made
        run and a resumed run unchanged."""
        cfg = self.cfg
        self._check_dir()
        data, preprocessing = (self._data, None) if self._data is not None else load_data(cfg)
        if self.resume and self.run.has_split():
            split = self.run.split()
            if self.split_file and splits.given_split(self.split_file, data.subjects) != split:
                raise UserError(self.split_file, f"differs from the split of the run in {self.run.path}")
        elif self.split_file:
            split = splits.given_split(self.split_file, data.subjects)
            unused = len(set(data.subjects) - {s for name in splits.SPLITS for s in split[name]})
            if unused:
                notices.warn(self.split_file, f"{unused} subject(s) of {cfg.data} are in no list and not used")
        else:
            split = splits.split_subjects(data.subjects, cfg.seed, cfg.val_fraction, cfg.test_fraction)
        meta = run_meta(cfg, data, preprocessing)
        task = task_class(cfg.model)(cfg, meta)
        train_index = np.flatnonzero(np.isin(data.subjects, split["train"]) & task.train_filter(data))
        if len(train_index) == 0:
            raise UserError(cfg.data, f"no training slices usable by {cfg.model} "
                                      f"(sequences {cfg.family.sequences if cfg.generative else cfg.pix2pix.source})")
        val_data = data.of_subjects(split["val"])
        if cfg.val_every:
            task.fit_references(data.of_subjects(split["train"]), val_data)

        out, created = self._make_dir()
        try:
            self.policy = precision.resolve(cfg.precision)   # what auto means on this machine
            keras.mixed_precision.set_global_policy(self.policy)
            keras.utils.set_random_seed(cfg.seed)  # initial weights, identical on every worker
            with self.strategy.scope():
                task.build()
                task.initialise(data.subset(train_index))
            step_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
            ckpt = tf.train.Checkpoint(step=step_var, epoch=epoch_var, **task.trackables())
            manager = tf.train.CheckpointManager(ckpt, str(out.checkpoint_dir()), cfg.keep_checkpoints)
            best_manager = tf.train.CheckpointManager(ckpt, str(out.checkpoint_dir(best=True)), 1)
            best = (self.run.best_record() or {}).get("value", -np.inf) if self.resume else -np.inf
            if self.resume:
                checkpoints.restore_latest(ckpt, self.run)
            start = int(step_var.numpy())
            if self.chief:
                out.save_config(cfg)
                out.save_split(split)
                out.truncate_metrics(start)
                self._write_meta(out, meta, start)
            out.samples_dir.mkdir(exist_ok=True)
        except BaseException:
            keras.mixed_precision.set_global_policy("float32")
            if created is not None:
                shutil.rmtree(created, ignore_errors=True)
            raise
        total = cfg.steps if cfg.steps is not None else max(1, cfg.epochs * len(train_index) // self.batch)
        return _Run(task, data, train_index, val_data, out, step_var, epoch_var, manager, best_manager,
                    best, start, total)

    def _segment(self, run: _Run, steps: range, batch: int, offset: int) -> None:
        """Train the steps of one segment (global batch ``batch``; its first example is number
        ``offset`` of the stream), running the cadence hooks after each."""
        train_step = self._step_function(run.task, batch)
        iterator = iter(self._dataset(run.task, run.data, run.train_index, steps, batch, offset))
        for step in steps:
            before = time.perf_counter()
            inputs = next(iterator)
            run.waited += time.perf_counter() - before
            if step == steps.start:  # the dataset's first iterator may reset glibc's trim threshold
                allocator.reassert()
            logs = {k: float(v) for k, v in train_step(inputs).items()}
            bad = [k for k, v in logs.items() if not np.isfinite(v)]
            if bad:
                raise TrainingStopped(
                    f"{self.run.path}: training stopped at step {step + 1}: {bad[0]} is "
                    f"{logs[bad[0]]}; the last good checkpoint is kept "
                    f"({run.manager.latest_checkpoint or 'none yet'})")
            done = step + 1
            epoch = (offset + (step - steps.start + 1) * batch) / len(run.train_index)
            run.step.assign(done)
            run.epoch.assign(int(epoch))
            run.bar.update(1)
            run.tick_images += batch
            entry = self._measure(run, done, logs)
            self._validate(run, done, entry)
            if entry:
                run.last = {"step": done, "epoch": round(epoch, 3), **entry}
                self._log(run.out, run.writer, run.last)
            if self._due(self.cfg.sample_every, done, run.total):
                self._sample(run.out, run.writer, run.task, run.data, done)
            self._checkpoint(run, done)

    # -- cadence hooks -----------------------------------------------------------------------
    @staticmethod
    def _due(every: int, done: int, total: int) -> bool:
        """Whether a hook run every ``every`` steps runs after step ``done`` (always after the last)."""
        return done % every == 0 or done == total

    def _measure(self, run: _Run, done: int, logs: dict) -> dict:
        """The step's losses and throughput since the last log, on log steps (else {})."""
        if not self._due(self.cfg.log_every, done, run.total):
            return {}
        now = time.perf_counter()
        entry = {"images_per_s": round(run.tick_images / max(now - run.tick, 1e-9), 2),
                 "input_wait": round(run.waited / max(now - run.tick, 1e-9), 6),
                 **{k: round(v, 6) for k, v in logs.items()}}
        run.tick, run.tick_images, run.waited = now, 0, 0.0
        run.bar.set_postfix({k: f"{v:.3g}" for k, v in logs.items()}, refresh=False)
        return entry

    def _validate(self, run: _Run, done: int, entry: dict) -> None:
        """On validation steps, add the task's validation figures to ``entry`` and keep a new best."""
        if not (self.cfg.val_every and self._due(self.cfg.val_every, done, run.total)):
            return
        entry.update(run.task.validate(run.val_data))
        value = entry.get(run.task.SELECT, -np.inf)
        if value > run.best:   # every worker saves, as for the latest (collective)
            run.best = value
            checkpoints.save_best(run.best_manager, run.out, done, run.task.SELECT, value)

    def _checkpoint(self, run: _Run, done: int) -> None:
        """Save on checkpoint steps and on a signal; after a signal, stop with 128 + its number."""
        if self._due(self.cfg.checkpoint_every, done, run.total) or self._signal:
            run.manager.save(checkpoint_number=done)
        if self._signal:
            run.bar.close()
            sys.stderr.write(f"mri-gan: stopped by signal {self._signal} at step {done}; "
                             f"checkpoint saved in {self.run.checkpoint_dir()}\n")
            raise SystemExit(128 + self._signal)

    def _write_meta(self, out: RunDir, meta: dict, start: int) -> None:
        """model.json: ``meta`` and the runtime of every session so far (runtime.record)."""
        try:
            earlier = out.meta().get("runtime", []) if self.resume else []
        except UserError:  # none yet, or unreadable: it is rewritten whole below
            earlier = []
        sessions = [e for e in earlier if e["from_step"] < start]
        sessions.append(runtime.record(self.strategy, self.policy, start, self.cfg.precision))
        meta["runtime"] = sessions
        out.save_meta(meta)

    def _log(self, out: RunDir, writer, entry: dict) -> None:
        if not self.chief:
            return
        out.append_metrics(entry)
        with writer.as_default(step=entry["step"]):
            for key, value in entry.items():
                if key not in ("step", "epoch"):
                    tf.summary.scalar(key, value)

    def _sample(self, out: RunDir, writer, task, data, step: int) -> None:
        if not self.chief:
            return
        grid = task.sample_grid(data, self.cfg.seed)
        out.save_sample(step, to_uint8(grid))
        with writer.as_default(step=step):
            tf.summary.image("samples", ((grid[None, ..., None] + 1) / 2).clip(0, 1))
