"""The training input pipeline, built in the graph from (seed, step) alone.

Which examples a step reads is a stateless shuffle per epoch of the training slices (examples
are numbered along the endless stream of epochs); every random number of a step comes from
stateless ops seeded by (seed, step); a task's TensorFlow ops assemble the batch from the slice
arrays held as tensors, XLA-compiled. Steps are built in parallel and prefetched, and the step number is the
whole random state, so a resumed run continues exactly and every worker draws the same global
batch, building only the rows of its own replicas.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

#: steps built at once (each XLA computation uses every core itself); with the two prefetched,
#: this bounds the memory batches wait in (AUTOTUNE held 8 GiB of 256-px batches of 64)
PARALLEL_STEPS = 4


def stream_index(train_index: tf.Tensor, positions: tf.Tensor, seed: int) -> tf.Tensor:
    """The slices at ``positions`` (ascending and consecutive) of the stream of per-epoch
    permutations of ``train_index`` (epoch e's permutation keyed by (seed, e))."""
    n = tf.size(train_index, out_type=tf.int64)
    epoch = positions // n
    first = epoch[0]
    orders = tf.map_fn(lambda e: tf.random.experimental.stateless_shuffle(tf.range(n), tf.stack([seed, e])),
                       tf.range(first, epoch[-1] + 1), fn_output_signature=tf.int64)
    return tf.gather(train_index, tf.gather_nd(orders, tf.stack([epoch - first, positions % n], axis=1)))


def step_seed(seed: int, step: tf.Tensor) -> tf.Tensor:
    """The stateless seed ([2] int64) of every random number of ``step``."""
    return tf.stack([tf.constant(seed, tf.int64), tf.cast(step, tf.int64)])


def training_batches(task, source: dict[str, np.ndarray], train_index: np.ndarray, steps: range, batch: int,
                     offset: int, seed: int, replicas: range, per_replica: int) -> tf.data.Dataset:
    """Per-replica batches of the replicas ``replicas`` (global replica numbers) of each step in
    ``steps``, one element per replica and step in that order; global batch ``batch``, whose first
    example is number ``offset`` of the stream. ``task`` draws and assembles (GANTask)."""
    arrays = {k: tf.convert_to_tensor(v) for k, v in source.items()}
    train = tf.constant(train_index, tf.int64)
    first, last = replicas.start * per_replica, replicas.stop * per_replica
    assemble = tf.function(task.assemble, jit_compile=True)   # its element-wise steps fused: 1.4x

    def build(step):
        positions = offset + (step - steps.start) * batch + tf.range(first, last, dtype=tf.int64)
        draws = task.draw(step_seed(seed, step), step, batch, steps.start)
        rows = assemble(arrays, stream_index(train, positions, seed),
                             {k: v[first:last] for k, v in draws.items()}, steps.start)
        return {k: tf.reshape(v, [len(replicas), per_replica, *v.shape[1:]]) for k, v in rows.items()}

    return (tf.data.Dataset.range(steps.start, steps.stop)
            .map(build, num_parallel_calls=PARALLEL_STEPS, deterministic=True)
            .unbatch().prefetch(2 * len(replicas)))
