"""Training engine: strategies, the custom tf.function loop, checkpoints and summaries."""
