"""One check for every Keras network and layer of mri_gan (models/test_networks.py lists them):
output shape, dtypes under mixed_bfloat16, get_config -> from_config giving the same outputs for
the same weights, and Keras serialisation under the registered name (whole networks also through
a .keras file)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

#: largest difference between the mixed_bfloat16 and the float32 output, as a fraction of the
#: float32 output's largest magnitude (at least 1): bfloat16 keeps 8 significant bits per operation
BF16_TOLERANCE = 0.05


@dataclass(frozen=True)
class Network:
    """``cls(**kwargs)`` called on the arrays ``inputs(rng)`` (positional) and on ``call`` (keyword
    arguments) gives an output of ``shape``; ``float32_out``: that output stays float32 under mixed
    precision (else it is in the compute dtype, bfloat16)."""

    cls: type
    kwargs: dict
    inputs: Callable[[np.random.Generator], tuple]
    shape: tuple
    call: dict = field(default_factory=dict)
    float32_out: bool = True

    def run(self, net, seed: int = 0) -> np.ndarray:
        """``net``'s output on the inputs drawn with ``seed``, as an array of its own dtype."""
        return keras.ops.convert_to_numpy(net(*self.inputs(np.random.default_rng(seed)), **self.call))

    def build(self, weights: list | None = None, net: keras.layers.Layer | None = None) -> keras.layers.Layer:
        """``net`` (by default a new instance, seeded) built by a call; its weights set to ``weights``, or
        else each nudged off its initial value by up to 0.05 (so zero-initialised layers count too)."""
        keras.utils.set_random_seed(0)
        net = self.cls(**self.kwargs) if net is None else net
        self.run(net)
        if weights is None:
            rng = np.random.default_rng(1)
            weights = [w + rng.uniform(-0.05, 0.05, w.shape).astype(w.dtype) for w in net.get_weights()]
        net.set_weights(weights)
        return net


def check_shape(case: Network) -> keras.layers.Layer:
    """The output's shape and finite values; returns the built float32 network."""
    net = case.build()
    out = case.run(net)
    assert out.shape == case.shape and out.dtype == np.float32, (out.shape, out.dtype)
    assert np.isfinite(out).all()
    return net


def check_mixed_precision(case: Network, reference: keras.layers.Layer) -> None:
    """Under mixed_bfloat16 with ``reference``'s weights: float32 variables, the output dtype the
    network promises, and ``reference``'s float32 output to bfloat16 precision."""
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        net = case.build(reference.get_weights())
        out = case.run(net)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert all(v.dtype == "float32" for v in net.weights), [v.dtype for v in net.weights]
    assert out.dtype == ("float32" if case.float32_out else "bfloat16"), out.dtype
    want = case.run(reference)
    diff = np.abs(out.astype(np.float32) - want).max()
    assert diff <= BF16_TOLERANCE * max(1.0, np.abs(want).max()), diff


def check_config_round_trip(case: Network, net: keras.layers.Layer) -> None:
    """``from_config(get_config())`` holds every constructor argument and, given the same weights,
    computes the same outputs."""
    clone = case.cls.from_config(net.get_config())
    for key, value in case.kwargs.items():
        assert getattr(clone, key) == value, key
    case.build(net.get_weights(), clone)
    np.testing.assert_array_equal(case.run(clone, seed=2), case.run(net, seed=2))


def check_registered(case: Network, net: keras.layers.Layer) -> None:
    """Keras serialises ``net`` under the name ``mri_gan>ClassName`` and restores it from it, built
    with every weight (of the same shapes) and without a warning."""
    config = keras.saving.serialize_keras_object(net)
    assert config["registered_name"] == f"mri_gan>{case.cls.__name__}", config["registered_name"]
    assert keras.saving.get_registered_object(config["registered_name"]) is case.cls
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        restored = keras.saving.deserialize_keras_object(config)
    assert not caught, [str(w.message) for w in caught]
    assert type(restored) is case.cls and restored.get_config() == net.get_config()
    assert [w.shape for w in restored.weights] == [w.shape for w in net.weights], case.cls.__name__


def check_network(case: Network) -> None:
    """Every check above but the .keras file, on one network."""
    net = check_shape(case)
    check_mixed_precision(case, net)
    check_config_round_trip(case, net)
    check_registered(case, net)


def check_keras_file(case: Network, folder: Path) -> None:
    """A whole network saved to a .keras file loads back, without a warning, as the same class with
    the same outputs."""
    net = case.build()
    path = folder / "network.keras"
    net.save(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = keras.saving.load_model(path)
    assert not caught, [str(w.message) for w in caught]
    assert type(loaded) is case.cls
    np.testing.assert_array_equal(case.run(loaded), case.run(net))
