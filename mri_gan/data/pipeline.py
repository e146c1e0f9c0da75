"""tf.data over in-memory arrays, built per ``tf.distribute.InputContext`` (evaluation, classifiers).

The GAN trainer feeds itself deterministically (mri_gan.training); this pipeline is for code
that wants ordinary shuffled, cached, prefetched batches, sharded per input pipeline.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from mri_gan.errors import UserError


def make_dataset(arrays: dict[str, np.ndarray], global_batch: int, input_context=None,
                 shuffle: bool = True, seed: int = 0, drop_remainder: bool = True) -> tf.data.Dataset:
    """Batches of dicts ``{name: array[batch]}`` from arrays sharing their first axis.

    With an ``input_context`` (from ``strategy.distribute_datasets_from_function``) the examples
    are sharded by input pipeline and batched per replica
    (``input_context.get_per_replica_batch_size(global_batch)``); without one the batch is
    ``global_batch``. Order: shard, cache, shuffle (``seed``, reshuffled each epoch), batch,
    prefetch.
    """
    lengths = {name: len(a) for name, a in arrays.items()}
    if not arrays or len(set(lengths.values())) != 1:
        raise ValueError(f"arrays must be non-empty and share their first axis, got {lengths}")
    n = next(iter(lengths.values()))
    batch = global_batch
    dataset = tf.data.Dataset.from_tensor_slices(dict(arrays))
    if input_context is not None:
        batch = input_context.get_per_replica_batch_size(global_batch)
        dataset = dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        n = len(range(input_context.input_pipeline_id, n, input_context.num_input_pipelines))
    if drop_remainder and n < batch:
        raise UserError("data", f"{n} example(s) per input pipeline are fewer than one batch of {batch}")
    dataset = dataset.cache()
    if shuffle:
        dataset = dataset.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
