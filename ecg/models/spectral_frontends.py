"""The ``fft`` and ``stft`` signal front-ends: Fourier magnitudes as Keras layers.

Both are layers without weights inside the network, products with a fixed DFT basis:
a saved model, ``ecg predict`` and an ONNX or LiteRT export carry them. Parameters and
output layouts are in :class:`ecg.models.frontends.FftParams` and
:class:`~ecg.models.frontends.StftParams`; the magnitudes equal ``numpy.fft.rfft``'s
and ``scipy.signal.stft``'s (tests/test_frontends.py).
"""
import math

import keras
import numpy as np
from keras import ops
from scipy.signal import get_window

from ecg.errors import ConfigError

_NORMS = {"backward": lambda n: 1.0, "ortho": lambda n: 1.0 / math.sqrt(n), "forward": lambda n: 1.0 / n}


def dft_basis(n_samples, n_fft, bins, window=None):
    """Real and imaginary DFT basis ``(n_samples, 2 * bins)`` float32: ``x @ basis`` is ``rfft(x * window, n_fft)``.

    Samples past ``n_fft`` get zero rows (the transform cuts them); fewer samples than
    ``n_fft`` are zero-padded implicitly. ``window`` (length ``n_samples``) is folded in.

    Examples
    --------
    >>> x = np.arange(6.0)
    >>> basis = dft_basis(6, 8, 5)
    >>> bool(np.allclose(x @ basis[:, :5] + 1j * (x @ basis[:, 5:]), np.fft.rfft(x, 8)))
    True
    """
    n = np.arange(n_samples)[:, None]
    angle = -2 * np.pi * n * np.arange(bins)[None, :] / n_fft
    weight = (n < n_fft) * (1.0 if window is None else np.asarray(window, np.float64)[:, None])
    return np.concatenate([np.cos(angle) * weight, np.sin(angle) * weight], axis=1).astype(np.float32)


def _magnitude(parts, bins, log_floor=None):
    """``|real + i imag|`` of ``parts = [..., real bins | imag bins]``, optionally ``log(|.| + floor)``."""
    magnitude = ops.sqrt(ops.square(parts[..., :bins]) + ops.square(parts[..., bins:]))
    return magnitude if log_floor is None else ops.log(magnitude + log_floor)


def _kept_bins(name, bins, n_fft):
    available = n_fft // 2 + 1
    if bins is not None and bins > available:
        raise ConfigError(f"front-end {name!r}: bins={bins} but a {n_fft}-point transform has {available} bins")
    return bins or available


# The transforms are products with a fixed DFT basis (a matrix product for the FFT, a
# strided convolution for the STFT), not keras.ops.rfft: tf2onnx has no conversion for
# TensorFlow's RFFT followed by Real/Imag, and LiteRT's RFFT2D takes powers of two
# only. The basis is a constant of the graph (n_samples x 2 bins floats; keep ``bins``
# small for a small export), not a weight, so model.keras stays small.
@keras.saving.register_keras_serializable(package="ecg")
class FftMagnitude(keras.layers.Layer):
    """Magnitudes of the one-sided DFT of each lead over the window.

    Args:
        n_fft: Transform length in samples (each lead cut or zero-padded).
        bins: Lowest bins kept.
        pool: Neighbouring kept bins averaged into one.
        norm: ``"backward"``, ``"ortho"`` or ``"forward"`` scaling (as :mod:`numpy.fft`).
        log_floor: ``log(magnitude + log_floor)`` when given.

    Input shape:
        ``(batch, steps, channels)``, ``steps`` fixed.

    Output shape:
        ``(batch, bins // pool, channels)``.
    """

    def __init__(self, n_fft, bins, pool=1, norm="ortho", log_floor=None, **kwargs):
        super().__init__(**kwargs)
        self.n_fft, self.bins, self.pool, self.norm, self.log_floor = int(n_fft), int(bins), int(pool), norm, log_floor

    def build(self, input_shape):
        self._basis = dft_basis(input_shape[1], self.n_fft, self.bins) * _NORMS[self.norm](self.n_fft)

    def call(self, x):
        parts = ops.matmul(ops.transpose(x, (0, 2, 1)), ops.convert_to_tensor(self._basis))
        magnitude = _magnitude(parts, self.bins)                          # (batch, channels, bins)
        if self.pool > 1:
            groups = self.bins // self.pool
            magnitude = ops.mean(ops.reshape(magnitude[..., :groups * self.pool],
                                             (-1, magnitude.shape[1], groups, self.pool)), axis=-1)
        if self.log_floor is not None:
            magnitude = ops.log(magnitude + self.log_floor)
        return ops.transpose(magnitude, (0, 2, 1))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.bins // self.pool, input_shape[2])

    def get_config(self):
        return {**super().get_config(), "n_fft": self.n_fft, "bins": self.bins, "pool": self.pool,
                "norm": self.norm, "log_floor": self.log_floor}


@keras.saving.register_keras_serializable(package="ecg")
class StftMagnitude(keras.layers.Layer):
    """Magnitude spectrogram of each lead: frames inside the window, scaled by the window's sum.

    Args:
        frame_length, frame_step, fft_length: Samples per frame, between frame starts,
            and the DFT length (``>= frame_length``).
        window: ``"hann"`` or ``"hamming"`` (periodic).
        bins: Lowest bins kept.
        log_floor: ``log(magnitude + log_floor)`` when given.

    Input shape:
        ``(batch, steps, channels)``, ``steps`` fixed.

    Output shape:
        ``(batch, 1 + (steps - frame_length) // frame_step, bins * channels)``, lead 0's
        bins first.
    """

    def __init__(self, frame_length, frame_step, fft_length, window, bins, log_floor=None, **kwargs):
        super().__init__(**kwargs)
        self.frame_length, self.frame_step, self.fft_length = int(frame_length), int(frame_step), int(fft_length)
        self.window, self.bins, self.log_floor = window, int(bins), log_floor
        taper = get_window(window, self.frame_length)
        basis = dft_basis(self.frame_length, self.fft_length, self.bins, taper) / np.float32(taper.sum())
        self._kernel = basis[:, None, :]                                   # (frame_length, 1, 2 bins)

    def call(self, x):
        steps, channels = x.shape[1], x.shape[2]
        leads = ops.reshape(ops.transpose(x, (0, 2, 1)), (-1, steps, 1))     # every lead on its own
        parts = ops.conv(leads, ops.convert_to_tensor(self._kernel), strides=self.frame_step, padding="valid")
        magnitude = _magnitude(parts, self.bins, self.log_floor)            # (batch * channels, frames, bins)
        magnitude = ops.reshape(magnitude, (-1, channels, magnitude.shape[1], self.bins))
        magnitude = ops.transpose(magnitude, (0, 2, 1, 3))                 # (batch, frames, channels, bins)
        return ops.reshape(magnitude, (-1, magnitude.shape[1], channels * self.bins))

    def compute_output_shape(self, input_shape):
        frames = 1 + (input_shape[1] - self.frame_length) // self.frame_step
        return (input_shape[0], frames, input_shape[2] * self.bins)

    def get_config(self):
        return {**super().get_config(), "frame_length": self.frame_length, "frame_step": self.frame_step,
                "fft_length": self.fft_length, "window": self.window, "bins": self.bins,
                "log_floor": self.log_floor}


def fft(inputs, params):
    """The ``fft`` front-end on ``inputs`` ``(batch, steps, channels)``: ``(batch, n_bins, channels)``."""
    steps = inputs.shape[1]
    if steps is None:
        raise ConfigError("front-end 'fft' needs a fixed window length. Received: steps=None")
    n_fft = params.n_fft or steps
    bins = _kept_bins("fft", params.bins, n_fft)
    if params.pool > bins:
        raise ConfigError(f"front-end 'fft': pool={params.pool} is more than the {bins} kept bins")
    return FftMagnitude(n_fft, bins, params.pool, params.norm, params.log_floor, name="fft_frontend")(inputs)


def stft(inputs, params):
    """The ``stft`` front-end on ``inputs``: ``(batch, n_frames, n_bins * channels)``."""
    steps = inputs.shape[1]
    if steps is None:
        raise ConfigError("front-end 'stft' needs a fixed window length. Received: steps=None")
    if params.frame_length > steps:
        raise ConfigError(f"front-end 'stft': frame_length={params.frame_length} is longer than the "
                          f"{steps}-sample window")
    fft_length = params.fft_length or params.frame_length
    bins = _kept_bins("stft", params.bins, fft_length)
    return StftMagnitude(params.frame_length, params.frame_step, fft_length, params.window, bins,
                         params.log_floor, name="stft_frontend")(inputs)
