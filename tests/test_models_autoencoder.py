"""The autoencoder architecture and the flattening head of the model factory."""
import doctest

import numpy as np
import pytest

from ecg.errors import ConfigError
from ecg.models import autoencoder as module
from ecg.models.factory import build_network


def test_docstring_examples():
    assert doctest.testmod(module).failed == 0


def test_everything_passes_through_the_latent_vector():
    net = build_network({"name": "autoencoder", "params": {"filters": [4, 8], "latent": 3}}, (64, 2), 2,
                        task="segmentation")
    latent = net.get_layer("latent")
    kernel, bias = latent.get_weights()
    latent.set_weights([np.zeros_like(kernel), bias])        # the bottleneck forgets its input
    x = np.random.default_rng(0).normal(size=(2, 64, 2)).astype("float32")
    out = net.predict_on_batch(x)
    np.testing.assert_allclose(out[0], out[1], atol=1e-5)      # two inputs, one output: no skip path


def test_autoencoder_checks_its_input():
    with pytest.raises(ConfigError, match="multiple of 8"):
        build_network({"name": "autoencoder", "params": {"filters": [4, 4, 4]}}, (60, 1), 1, task="segmentation")
    with pytest.raises(ConfigError, match="fixed input length"):
        build_network({"name": "autoencoder"}, (None, 1), 1, task="segmentation")
    with pytest.raises(ConfigError, match="cannot do task='classification'"):
        build_network({"name": "autoencoder"}, (64, 1), 1)


def test_flatten_head_keeps_the_position_of_features():
    arch = {"name": "cnn", "params": {"filters": [4], "head_pooling": "flatten", "output_activation": "linear"}}
    net = build_network(arch, (32, 1), 5)
    assert net.output_shape == (None, 5)
    # one dense weight per step and channel of the last features (16 steps x 4 channels) and output
    assert net.get_layer("logits").get_weights()[0].shape == (16 * 4, 5)
    with pytest.raises(ConfigError, match="fixed input length"):
        build_network(arch, (None, 1), 5)
