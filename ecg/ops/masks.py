"""Delineation masks: WFDB wave annotations to per-sample class masks and back.

WFDB delineation annotators (LUDB's ``.i`` ... ``.v6``, the QT Database's ``q1c``,
``pu0``, ...) mark each wave with three annotations: its onset ``(``, its peak (``p``
for P, ``N`` for QRS, ``t`` for T) and its offset ``)``, all in samples. A mask gives
each sample the class of the wave it lies in:

====== ==========
value  meaning
====== ==========
0      background (no annotated wave)
1      P wave   (first of ``classes``, ``"p"``)
2      QRS      (second, ``"N"``)
3      T wave   (third, ``"t"``)
====== ==========

A wave spans its onset and offset samples, both included. A wave is kept only when
both its ``(`` and its ``)`` are annotated around its peak; one cut by the start or the
end of the annotated stretch (e.g. ``N)`` at a record's first sample) stays background,
as do T waves in ``q1c``, which annotates T peaks and ends but no T onsets. Several peaks
inside one pair of parentheses (``(tt)``, a biphasic T) make one wave, of the first
peak's class.
"""
import numpy as np

WAVE_CLASSES = ("p", "N", "t")


def wave_intervals(samples, symbols, classes=WAVE_CLASSES):
    """Find the waves of a WFDB delineation annotation.

    Parameters
    ----------
    samples : array-like of int, shape (n_annotations,)
        Annotation positions in samples, increasing (``rdann(...).sample``).
    symbols : array-like of str, shape (n_annotations,)
        Annotation labels (``rdann(...).symbol``): ``(``, ``)`` and peak labels.
    classes : sequence of str
        Peak labels of the wave classes; class ``k`` gets the label ``k + 1``.

    Returns
    -------
    onsets, peaks, offsets : numpy.ndarray of int64, shape (n_waves,)
        Onset, peak and offset of each complete wave, in samples (offsets included).
    labels : numpy.ndarray of int8, shape (n_waves,)
        Class label of each wave, 1 for ``classes[0]`` and so on.

    Examples
    --------
    >>> onsets, peaks, offsets, labels = wave_intervals(
    ...     [3, 5, 8, 10, 12, 14, 20], ["N", ")", "(", "p", ")", "(", "t"])
    >>> onsets.tolist(), peaks.tolist(), offsets.tolist(), labels.tolist()
    ([8], [10], [12], [1])
    """
    samples = np.asarray(samples, dtype=np.int64).reshape(-1)
    symbols = np.asarray(symbols, dtype=str).reshape(-1)
    if samples.shape != symbols.shape:
        raise ValueError(f"Expected as many samples as symbols. Received: {samples.size} samples, "
                         f"{symbols.size} symbols")
    n = symbols.size
    position = np.arange(n)
    is_open, is_close = symbols == "(", symbols == ")"
    last_open = np.maximum.accumulate(np.where(is_open, position, -1)) if n else position
    last_close = np.maximum.accumulate(np.where(is_close, position, -1)) if n else position
    next_open = np.minimum.accumulate(np.where(is_open, position, n)[::-1])[::-1] if n else position
    next_close = np.minimum.accumulate(np.where(is_close, position, n)[::-1])[::-1] if n else position
    peaks = np.flatnonzero(np.isin(symbols, list(classes)))
    complete = (last_open[peaks] > last_close[peaks]) & (next_close[peaks] < next_open[peaks])
    peaks = peaks[complete]
    _, first = np.unique(last_open[peaks], return_index=True)
    peaks = peaks[first]
    lookup = {label: k + 1 for k, label in enumerate(classes)}
    labels = np.array([lookup[s] for s in symbols[peaks]], dtype=np.int8)
    return samples[last_open[peaks]], samples[peaks], samples[next_close[peaks]], labels


def annotations_to_mask(samples, symbols, n_samples, classes=WAVE_CLASSES):
    """Turn a WFDB delineation annotation into a per-sample class mask.

    Parameters
    ----------
    samples : array-like of int, shape (n_annotations,)
        Annotation positions in samples, increasing.
    symbols : array-like of str, shape (n_annotations,)
        ``(``, peak label, ``)`` triplets (see the module docstring).
    n_samples : int
        Length of the mask, in samples (the record's signal length).
    classes : sequence of str
        Peak labels; ``("p", "N", "t")`` gives background 0, P 1, QRS 2, T 3.

    Returns
    -------
    numpy.ndarray of int8, shape (n_samples,)
        The class of each sample; waves past ``n_samples`` are cut at its end.

    Examples
    --------
    >>> annotations_to_mask([1, 2, 3, 5, 6, 8], ["(", "p", ")", "(", "N", ")"], 10).tolist()
    [0, 1, 1, 1, 0, 2, 2, 2, 2, 0]
    """
    n_samples = int(n_samples)
    if n_samples < 0:
        raise ValueError(f"Expected n_samples >= 0. Received: n_samples={n_samples}")
    onsets, _, offsets, labels = wave_intervals(samples, symbols, classes)
    onsets, offsets = np.clip(onsets, 0, None), np.clip(offsets, None, n_samples - 1)
    inside = onsets <= offsets
    onsets, offsets, labels = onsets[inside], offsets[inside], labels[inside]
    lengths = offsets - onsets + 1
    starts = np.repeat(onsets - np.cumsum(lengths) + lengths, lengths)
    mask = np.zeros(n_samples, dtype=np.int8)
    mask[starts + np.arange(lengths.sum())] = np.repeat(labels, lengths)
    return mask


def mask_to_intervals(mask, n_classes=None):
    """Find the runs of each class in a per-sample mask.

    Parameters
    ----------
    mask : array-like of int, shape (n_samples,)
        Class of each sample, 0 for background.
    n_classes : int, optional
        Number of non-background classes; default: the largest value in ``mask``.

    Returns
    -------
    dict of int to numpy.ndarray of int64, shape (n_waves, 2)
        For each class ``1 .. n_classes``, the ``[onset, offset]`` of its runs, in samples,
        offsets included (an empty ``(0, 2)`` array when a class is absent).

    Examples
    --------
    >>> intervals = mask_to_intervals([0, 1, 1, 1, 0, 2, 2, 2, 2, 0])
    >>> intervals[1].tolist(), intervals[2].tolist()
    ([[1, 3]], [[5, 8]])
    """
    mask = np.asarray(mask).reshape(-1)
    n_classes = int(mask.max(initial=0)) if n_classes is None else int(n_classes)
    change = np.flatnonzero(np.diff(mask)) + 1
    starts = np.concatenate([[0], change]).astype(np.int64) if mask.size else np.empty(0, np.int64)
    ends = np.concatenate([change - 1, [mask.size - 1]]).astype(np.int64) if mask.size else starts
    values = mask[starts]
    return {k: np.stack([starts[values == k], ends[values == k]], axis=1) for k in range(1, n_classes + 1)}
