"""Data: readers per format -> records, the embedded phantom, preprocessing, splits, tf.data."""
