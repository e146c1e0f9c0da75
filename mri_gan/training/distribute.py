"""Choosing a tf.distribute strategy and splitting global batches over replicas."""

from __future__ import annotations

import json
import os

import tensorflow as tf

from mri_gan.config import STRATEGIES
from mri_gan.errors import UserError


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """auto: MultiWorkerMirrored when TF_CONFIG is set, Mirrored over >1 GPU, else the default."""
    if name not in STRATEGIES:
        raise UserError("--strategy", f"unknown strategy {name!r} (known: {', '.join(STRATEGIES)})")
    if name == "auto":
        if os.environ.get("TF_CONFIG"):
            name = "multiworker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "default"
    if name == "multiworker":
        if not os.environ.get("TF_CONFIG"):
            raise UserError("--strategy", "multiworker needs TF_CONFIG (see `mri-gan launch-local`)")
        try:
            json.loads(os.environ["TF_CONFIG"])
        except json.JSONDecodeError as err:
            raise UserError("TF_CONFIG", f"not valid JSON: {err}") from None
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=collective_timeout())
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    return tf.distribute.get_strategy()


def collective_timeout() -> float:
    """Seconds a collective may wait for a lost peer before the job fails (env MRI_GAN_COLLECTIVE_TIMEOUT)."""
    value = os.environ.get("MRI_GAN_COLLECTIVE_TIMEOUT", "300")
    try:
        return float(value)
    except ValueError:
        raise UserError("MRI_GAN_COLLECTIVE_TIMEOUT", f"{value!r} is not a number of seconds") from None


def apply_thread_limit() -> None:
    """Honour MRI_GAN_THREADS (set per worker by launch-local) before TensorFlow starts."""
    threads = os.environ.get("MRI_GAN_THREADS")
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(int(threads))


def per_replica_batch(global_batch: int, strategy: tf.distribute.Strategy) -> int:
    replicas = strategy.num_replicas_in_sync
    if global_batch % replicas:
        raise UserError("--set batch_size", f"global batch {global_batch} is not divisible by "
                                            f"{replicas} replicas")
    return global_batch // replicas


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True for the worker that writes checkpoints, summaries and samples."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type == "chief" or (task_type == "worker" and task_id == 0
                                    and "chief" not in resolver.cluster_spec().as_dict())


def strategy_name(strategy: tf.distribute.Strategy) -> str:
    """The ``--strategy`` name of a strategy: default, mirrored or multiworker."""
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "multiworker"
    return "mirrored" if isinstance(strategy, tf.distribute.MirroredStrategy) else "default"


def worker_count(strategy: tf.distribute.Strategy) -> int:
    """The processes (chief and workers) that train together."""
    resolver = getattr(strategy, "cluster_resolver", None)
    spec = resolver.cluster_spec().as_dict() if resolver is not None else {}
    return sum(len(spec.get(kind, ())) for kind in ("chief", "worker")) or 1
