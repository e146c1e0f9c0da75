"""The in-graph input pipeline: the stream of per-epoch permutations, per-replica sharding, resuming
mid-stream, OpenCV's warp in TensorFlow, masks warped nearest, and weighted hiding counts."""

import cv2
import numpy as np
import pytest
import tensorflow as tf
from conftest import make_slices

from mri_gan.commands.sets import typed_sets
from mri_gan.config import resolve
from mri_gan.data.pipeline import stream_index, training_batches
from mri_gan.models.imputation import hidden_sequences
from mri_gan.models.pix2pix import Pix2Pix
from mri_gan.models.task import projective, warp_transforms


@pytest.fixture(scope="module")
def data():
    return make_slices(subjects=4, per_subject=3, size=32)


def task_for(target="any", **sets):
    return Pix2Pix(resolve("pix2pix", "smoke", "synthetic", {"target": target, **typed_sets("pix2pix", sets)}), {})


def elements(dataset) -> list[dict]:
    return [{k: v.numpy() for k, v in e.items()} for e in dataset]


def test_each_epoch_is_a_permutation_of_the_training_slices_keyed_by_seed():
    train = tf.constant([3, 5, 8, 13, 21, 34, 55], tf.int64)
    stream = stream_index(train, tf.range(21, dtype=tf.int64), 0).numpy()
    epochs = stream.reshape(3, 7)
    assert all(sorted(e) == sorted(train.numpy()) for e in epochs)
    assert len({tuple(e) for e in epochs}) == 3                          # every epoch its own order
    np.testing.assert_array_equal(stream_index(train, tf.range(5, 12, dtype=tf.int64), 0), stream[5:12])
    assert not np.array_equal(stream_index(train, tf.range(21, dtype=tf.int64), 1), stream)


@pytest.mark.parametrize("sets", [{"target": "any", "flip": "true", "rotate": "10", "zoom": "0.1"},
                                  {"target": "flair", "source": "t1,t2", "flip": "true"}])
def test_replicas_share_one_global_batch_and_a_resume_continues_it(data, sets):
    task = task_for(**sets)
    source, train = task.source(data), np.arange(1, len(data))
    whole = elements(training_batches(task, source, train, range(0, 4), 4, 0, 7, range(0, 2), 2))
    assert len(whole) == 8 and whole[0]["cond"].shape[0] == 2
    shards = [elements(training_batches(task, source, train, range(0, 4), 4, 0, 7, range(r, r + 1), 2))
              for r in (0, 1)]
    interleaved = [shard[k] for k in range(4) for shard in shards]       # step by step, replica by replica
    resumed = elements(training_batches(task, source, train, range(2, 4), 4, 8, 7, range(0, 2), 2))
    for got, want in zip(interleaved + resumed, whole + whole[4:]):
        assert got.keys() == want.keys()
        for key in want:   # XLA compiles each row count on its own: last-bit differences
            np.testing.assert_allclose(got[key], want[key], rtol=0, atol=2e-6)
    for got, want in zip(resumed, whole[4:]):                          # the same rows: identical
        np.testing.assert_array_equal(got["target"], want["target"])
    assert not np.array_equal(whole[0]["target"], whole[2]["target"])   # steps differ
    other = elements(training_batches(task, source, train, range(0, 1), 4, 0, 8, range(0, 2), 2))
    assert not np.array_equal(other[0]["target"], whole[0]["target"])   # and seeds


def test_the_batch_matches_the_task_spec(data):
    for task in (task_for("any", rotate="5"), task_for("flair", source="t1")):
        [element] = elements(training_batches(task, task.source(data), np.arange(len(data)), range(0, 1),
                                              4, 0, 0, range(0, 1), 4))
        spec = task.batch_spec(0)
        assert element.keys() == spec.keys()
        for key, value in element.items():
            assert value.dtype == spec[key].dtype.as_numpy_dtype and value.shape[1:] == tuple(spec[key].shape[1:])


@pytest.mark.parametrize("flip", [False, True])
def test_the_warp_is_opencvs_rotation_matrix_with_replicated_borders(flip):
    rng = np.random.default_rng(0)
    images = cv2.GaussianBlur(rng.uniform(-1, 1, (40, 48, 6)).astype(np.float32), (0, 0), 2).reshape(40, 48, 3, 2)
    images = images.transpose(2, 0, 1, 3).copy()
    angles, scales = np.array([7.0, -15.0, 3.0]), np.array([1.1, 0.9, 1.0])
    transforms = warp_transforms(tf.constant(np.radians(angles), tf.float32), tf.constant(scales, tf.float32),
                                 tf.fill([3], flip), (40, 48))
    out = projective(tf.constant(images), transforms, "BILINEAR").numpy()
    for i in range(3):
        source = np.ascontiguousarray(images[i, :, ::-1] if flip else images[i])
        matrix = cv2.getRotationMatrix2D((47 / 2, 39 / 2), angles[i], scales[i])
        want = cv2.warpAffine(source, matrix, (48, 40), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        # OpenCV rounds sample positions to 1/32 pixel
        np.testing.assert_allclose(out[i], want, atol=4e-3)
        assert np.abs(out[i] - images[i]).max() > 0.1


def test_masks_warp_nearest_and_stay_binary(data):
    task = task_for("any", rotate="30", zoom="0.2")
    draws = task.geometry_draws(tf.constant([1, 2], tf.int64), 6)
    lesion = tf.constant(data.tumor_mask[:6, ..., None].astype(np.float32))
    images, masks = task.transformed(draws, tf.constant(data.images[:6]), lesion)
    assert set(np.unique(masks.numpy())) == {0.0, 1.0}
    assert not np.array_equal(masks.numpy(), lesion.numpy())
    # the mask moves with the images: the warped images' own copy of it, rounded, agrees almost everywhere
    bilinear, nearest = task.transformed(draws, lesion, lesion)
    assert (bilinear.numpy().round() == nearest.numpy()).mean() > 0.97
    assert images.shape == data.images[:6].shape


def test_hiding_counts_follow_the_weights_even_for_draws_next_to_one():
    available = tf.ones([3, 4], tf.bool)
    order = tf.constant(np.random.default_rng(0).uniform(size=(3, 4)), tf.float32)
    near_one = tf.constant([0.0, 0.74, np.nextafter(np.float32(1), np.float32(0))], tf.float32)
    counts = tf.reduce_sum(tf.cast(hidden_sequences(available, near_one, order, (3.0, 1.0, 0.0)), tf.int32), 1)
    assert counts.numpy().tolist() == [1, 1, 2]                          # never 3, whose weight is 0
    two = tf.constant([[True, False, True, False]] * 3)
    hidden = hidden_sequences(two, near_one, order, (0.0, 0.0, 1.0)).numpy()
    assert (hidden.sum(axis=1) == 1).all() and not (hidden & ~two.numpy()).any()
