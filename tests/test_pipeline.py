"""make_dataset: batches, per-replica sharding, determinism by seed, short data refused."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from mri_gan.data.pipeline import make_dataset
from mri_gan.errors import UserError


def arrays(n=20):
    return {"image": np.arange(n * 4, dtype=np.float32).reshape(n, 2, 2, 1), "label": np.arange(n, dtype=np.int32)}


def labels(dataset):
    return [batch["label"].numpy().tolist() for batch in dataset]


def test_batches_cover_each_example_once_per_epoch():
    dataset = make_dataset(arrays(), 8, seed=1)
    epoch = labels(dataset)
    assert [len(b) for b in epoch] == [8, 8]                       # remainder dropped
    assert len(set(sum(epoch, []))) == 16
    assert epoch != labels(dataset)                                  # reshuffled each epoch
    assert epoch == labels(make_dataset(arrays(), 8, seed=1))        # deterministic by seed
    batch = next(iter(dataset))
    np.testing.assert_array_equal(batch["image"].numpy()[:, 0, 0, 0], batch["label"].numpy() * 4)


def test_unshuffled_remainder_kept():
    assert labels(make_dataset(arrays(10), 4, shuffle=False, drop_remainder=False)) == [
        [0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_shards_per_input_context():
    shards = []
    for pipeline in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pipeline,
                                             num_replicas_in_sync=4)
        shards.append(labels(make_dataset(arrays(), 8, context, shuffle=False)))
    assert shards == [[[0, 2], [4, 6], [8, 10], [12, 14], [16, 18]], [[1, 3], [5, 7], [9, 11], [13, 15], [17, 19]]]


def test_refusals():
    with pytest.raises(UserError, match="fewer than one batch"):
        make_dataset(arrays(5), 8)
    with pytest.raises(ValueError):
        make_dataset({"a": np.zeros(3), "b": np.zeros(4)}, 1)
