"""Sample maps: where each output sample of a sample-moving action comes from.

Every action that crops, pads, splits, resamples, stretches or warps signals computes
one *sample map* per output window and moves the signal, the annotation sample indices
and the per-sample targets with that same map, so the three cannot drift apart.

A sample map ``positions`` is a float64 array ``(..., n_out)``: output sample ``j``
shows the input at position ``positions[..., j]``, counted in input samples (fractional
after a resampling or a stretch). ``NaN`` marks output samples with no input behind
them (padding). Where finite, a map is strictly increasing and its finite part is one
contiguous run.

* Annotations move through the inverse map: an input mark at sample ``s`` lands on the
  output sample nearest to ``s`` (:func:`move_samples`); marks that fall outside the
  covered stretch by more than half an output sample are dropped.
* Per-sample targets (masks, a clean signal) are read at the map's positions
  (:func:`move_per_sample`): integer targets (class masks) take the nearest input
  sample, float targets are linearly interpolated; padding takes ``fill``.
"""
import numpy as np

from ecg.errors import SignalError


def shift_map(n_in, start, length):
    """Map of a window of ``length`` samples starting at input sample ``start``.

    Samples before the input's start or past its end (``start < 0`` or
    ``start + length > n_in``: padding) are ``NaN``.

    Examples
    --------
    >>> shift_map(5, -2, 8)
    array([nan, nan,  0.,  1.,  2.,  3.,  4., nan])
    """
    positions = start + np.arange(length, dtype=np.float64)
    positions[(positions < 0) | (positions > n_in - 1)] = np.nan
    return positions


def window_maps(starts, length):
    """Maps ``(n_windows, length)`` of windows of ``length`` samples at ``starts``.

    Examples
    --------
    >>> window_maps([0, 3], 2)
    array([[0., 1.],
           [3., 4.]])
    """
    return np.asarray(starts, dtype=np.float64).reshape(-1, 1) + np.arange(length, dtype=np.float64)


def rate_map(n_out, up, down):
    """Map of a signal resampled by the rational factor ``up / down``: ``j * down / up``.

    Examples
    --------
    >>> rate_map(3, up=1, down=2)
    array([0., 2., 4.])
    """
    return np.arange(n_out, dtype=np.float64) * (down / up)


def _finite_run(positions, where="sample map"):
    """Output indices and input positions of the finite part of a 1-D map (checked)."""
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 1:
        raise SignalError(f"Expected a 1-D {where}. Received: shape {positions.shape}.")
    out_index = np.flatnonzero(np.isfinite(positions))
    inputs = positions[out_index]
    if out_index.size and (np.any(np.diff(out_index) != 1) or np.any(np.diff(inputs) <= 0)):
        raise SignalError(f"Expected a {where} that is strictly increasing on one contiguous run "
                          "of finite positions.")
    return out_index, inputs


def move_samples(sample, positions):
    """Move sample indices through a sample map.

    Parameters
    ----------
    sample : array-like of int
        Input sample indices (e.g. an annotation's ``sample``).
    positions : numpy.ndarray
        1-D sample map (see the module docstring).

    Returns
    -------
    moved : numpy.ndarray
        int64 output indices of the kept marks.
    keep : numpy.ndarray
        bool ``(len(sample),)``: which marks are inside the output.

    Examples
    --------
    >>> moved, keep = move_samples([1, 4, 9], shift_map(10, 3, 4))
    >>> moved.tolist(), keep.tolist()
    ([1], [False, True, False])
    >>> move_samples([0, 3, 9], rate_map(5, up=1, down=2))[0].tolist()
    [0, 2, 4]
    """
    sample = np.asarray(sample, dtype=np.float64).reshape(-1)
    out_index, inputs = _finite_run(positions)
    if out_index.size == 0 or sample.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(sample.size, dtype=bool)
    if out_index.size == 1:
        u = out_index[0] + (sample - inputs[0])
    else:
        u = np.interp(sample, inputs, out_index.astype(np.float64))
        first_step = inputs[1] - inputs[0]
        last_step = inputs[-1] - inputs[-2]
        before, after = sample < inputs[0], sample > inputs[-1]
        u[before] = out_index[0] + (sample[before] - inputs[0]) / first_step
        u[after] = out_index[-1] + (sample[after] - inputs[-1]) / last_step
    keep = (u >= out_index[0] - 0.5) & (u <= out_index[-1] + 0.5)
    moved = np.clip(np.floor(u[keep] + 0.5), out_index[0], out_index[-1]).astype(np.int64)
    return moved, keep


def move_annotation(annotation, positions):
    """Move one annotator's dict (``sample``, ``symbol``, ``aux_note``...) through a map.

    Every field is filtered to the kept marks; ``sample`` is replaced by the moved
    indices.

    Examples
    --------
    >>> ann = {"sample": np.array([2, 8]), "symbol": np.array(["N", "V"])}
    >>> moved = move_annotation(ann, shift_map(10, 5, 5))
    >>> moved["sample"].tolist(), moved["symbol"].tolist()
    ([3], ['V'])
    """
    moved, keep = move_samples(annotation["sample"], positions)
    out = {}
    for key, values in annotation.items():
        values = np.asarray(values)
        if values.shape[:1] != keep.shape:
            raise SignalError(f"Expected annotation field {key!r} with one entry per mark "
                              f"({keep.size}). Received: shape {values.shape}.")
        out[key] = values[keep]
    out["sample"] = moved
    return out


def tile_annotation(annotation, n_in, before, n_out):
    """Annotation of a record wrap-padded to ``n_out`` samples with ``before`` samples in front.

    The output repeats the record (``numpy.pad(mode="wrap")``), so every mark is repeated
    with every copy of it that falls inside the output; fields stay in sample order.

    Examples
    --------
    >>> ann = {"sample": np.array([1]), "symbol": np.array(["N"])}
    >>> tile_annotation(ann, n_in=4, before=2, n_out=10)["sample"].tolist()
    [3, 7]
    """
    sample = np.asarray(annotation["sample"], dtype=np.int64)
    first = -(-before // n_in)                       # copies of the record starting before it
    shifts = before + n_in * np.arange(-first, -(-(n_out - before) // n_in) + 1)
    moved = (sample[None, :] + shifts[:, None]).reshape(-1)
    keep = (moved >= 0) & (moved < n_out)
    order = np.argsort(moved[keep], kind="stable")
    out = {}
    for key, values in annotation.items():
        values = np.asarray(values)
        out[key] = np.tile(values, len(shifts))[keep][order]
    out["sample"] = moved[keep][order]
    return out


def move_per_sample(values, positions, fill=0):
    """Read per-sample values ``(..., n_in)`` at the positions of a map ``(..., n_out)``.

    Integer and boolean values (class masks) take the nearest input sample; float values
    are linearly interpolated. Output samples without a source (``NaN``) get ``fill``.
    The leading axes of ``values`` and ``positions`` broadcast against each other.

    Examples
    --------
    >>> move_per_sample(np.array([0, 1, 1, 2]), np.array([np.nan, 0.4, 1.6, 3.0]))
    array([0, 0, 1, 2])
    >>> move_per_sample(np.array([0.0, 1.0, 2.0]), np.array([0.5, 1.5]))
    array([0.5, 1.5])
    """
    values = np.asarray(values)
    positions = np.asarray(positions, dtype=np.float64)
    n_in = values.shape[-1]
    valid = np.isfinite(positions)
    safe = np.clip(np.where(valid, positions, 0.0), 0, n_in - 1)
    lead = np.broadcast_shapes(values.shape[:-1], positions.shape[:-1])
    values = np.broadcast_to(values, lead + (n_in,))
    index_shape = lead + positions.shape[-1:]
    if values.dtype.kind in "iub":
        nearest = np.broadcast_to(np.floor(safe + 0.5).astype(np.int64), index_shape)
        out = np.take_along_axis(values, nearest, axis=-1)
    else:
        left = np.floor(safe).astype(np.int64)
        right = np.minimum(left + 1, n_in - 1)
        frac = np.broadcast_to(safe - left, index_shape)
        out = (np.take_along_axis(values, np.broadcast_to(left, index_shape), axis=-1) * (1 - frac)
               + np.take_along_axis(values, np.broadcast_to(right, index_shape), axis=-1) * frac)
        out = out.astype(values.dtype, copy=False)
    return np.where(np.broadcast_to(valid, index_shape), out, np.asarray(fill, dtype=out.dtype))


def interpolate_at(x, positions):
    """Linear interpolation of signals ``x`` ``(n, ..., n_in)`` at maps ``(n, n_out)``.

    Each item (first axis) has its own map, shared by its leads; output samples
    without a source (``NaN``) repeat the last input sample (edge padding).

    Examples
    --------
    >>> interpolate_at(np.array([[0.0, 10.0, 20.0]]), np.array([[0.5, 1.5, np.nan]]))
    array([[ 5., 15., 20.]])
    """
    positions = np.where(np.isfinite(positions), positions, x.shape[-1] - 1)
    shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (positions.shape[-1],)
    return move_per_sample(x.astype(np.float64, copy=False), positions.reshape(shape)).astype(x.dtype)
