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


def _runs(mask):
    """Run-length code of a 1-D mask: ``(starts, lengths, values)``."""
    mask = np.asarray(mask).reshape(-1)
    if not mask.size:
        return np.empty(0, np.int64), np.empty(0, np.int64), mask[:0]
    starts = np.concatenate([[0], np.flatnonzero(np.diff(mask)) + 1]).astype(np.int64)
    lengths = np.diff(np.append(starts, mask.size))
    return starts, lengths, mask[starts]


def _fill_gaps(values, lengths, max_gap):
    """Background runs shorter than ``max_gap`` samples between two runs of one class take it."""
    values = values.copy()
    inner = np.arange(1, len(values) - 1)
    same = values[inner - 1] == values[inner + 1]
    fill = inner[(values[inner] == 0) & (lengths[inner] < max_gap) & same & (values[inner - 1] != 0)]
    values[fill] = values[fill - 1]
    return values


def annotated_span(mask):
    """First and last sample of the stretch a delineation annotates.

    Annotators of LUDB and the QT Database delineate only part of a record (LUDB
    leaves the first and last second or two out); outside the span from the first to
    the last wave sample, background means "not annotated", not "no wave".

    Parameters
    ----------
    mask : array-like of int, shape (..., n_samples)
        Class masks (0 background); several rows (e.g. leads) give their common span.

    Returns
    -------
    tuple of int or None
        ``(first, last)`` in samples, both included; ``None`` when no sample is a wave.

    Examples
    --------
    >>> annotated_span([0, 0, 1, 1, 0, 2, 0, 0])
    (2, 5)
    >>> annotated_span([0, 0, 0]) is None
    True
    """
    mask = np.atleast_1d(np.asarray(mask))
    waves = np.flatnonzero((mask != 0).reshape(-1, mask.shape[-1]).any(axis=0))
    if not waves.size:
        return None
    return int(waves[0]), int(waves[-1])


def clean_mask(mask, fs, min_duration=(0.03, 0.04, 0.06), max_gap=0.05):
    """Post-process a predicted class mask into whole, plausible waves.

    The steps, in order:

    1. **merge**: a background gap shorter than ``max_gap`` between two runs of the
       same class is filled with that class (one wave split by a few samples of
       doubt becomes one wave);
    2. **absorb**: a run of class ``k`` shorter than ``min_duration[k - 1]`` between
       two runs of one class takes their class (a flicker inside a wave, or a
       fragment alone in the background);
    3. **remove**: the short runs left (between two different classes) become
       background;
    4. **merge** again, for the gaps that step 3 opened.

    A run that touches an end of the mask has only one neighbour: when short, it
    becomes background.

    Parameters
    ----------
    mask : array-like of int, shape (n_samples,)
        Class of each sample: 0 background, ``k`` the ``k``-th wave class
        (P 1, QRS 2, T 3, see the module docstring).
    fs : float
        Sampling rate of the mask, in Hz.
    min_duration : sequence of float
        Shortest wave of each class ``1, 2, ...``, in seconds (LUDB's shortest 0.1 %:
        P 38 ms, QRS 54 ms, T 74 ms).
    max_gap : float
        Longest gap filled between two runs of one class, in seconds (in LUDB two P,
        QRS or T waves are never closer than 176 ms).

    Returns
    -------
    numpy.ndarray, shape (n_samples,)
        The cleaned mask, of the dtype of ``mask``.

    Raises
    ------
    ValueError
        For ``fs <= 0``, a negative duration, or a class without a ``min_duration``.

    Examples
    --------
    At 1 kHz, a P wave broken by a 3 ms gap, a 5 ms QRS fragment, and a T wave with a
    2 ms QRS flicker inside:

    >>> mask = np.array([0] * 5 + [1] * 40 + [0] * 3 + [1] * 40 + [0] * 20 + [2] * 5 + [0] * 20
    ...                 + [3] * 50 + [2] * 2 + [3] * 60 + [0] * 5)
    >>> cleaned = clean_mask(mask, fs=1000)
    >>> {k: v.tolist() for k, v in mask_to_intervals(cleaned, 3).items()}
    {1: [[5, 87]], 2: [], 3: [[133, 244]]}
    """
    mask = np.asarray(mask)
    if mask.ndim != 1:
        raise ValueError(f"Expected a 1-D mask (n_samples,). Received: shape {mask.shape}")
    if not (np.isscalar(fs) and fs > 0):
        raise ValueError(f"Expected a strictly positive sampling rate. Received: fs={fs}")
    min_samples = np.concatenate([[0], np.asarray(min_duration, dtype=np.float64) * fs])
    if (min_samples < 0).any() or max_gap < 0:
        raise ValueError(f"Expected durations >= 0 s. Received: min_duration={min_duration}, max_gap={max_gap}")
    if mask.size and (mask.min() < 0 or mask.max() >= len(min_samples)):
        raise ValueError(f"Expected mask values from 0 to {len(min_samples) - 1} (one min_duration per class). "
                         f"Received: values from {mask.min()} to {mask.max()}")
    gap = max_gap * fs
    _, lengths, values = _runs(mask)
    _, lengths, values = _runs(np.repeat(_fill_gaps(values, lengths, gap), lengths))
    short = (values != 0) & (lengths < min_samples[values])
    absorbed = np.flatnonzero(short[1:-1] & (values[:-2] == values[2:])) + 1
    values[absorbed] = values[absorbed - 1]
    _, lengths, values = _runs(np.repeat(values, lengths))
    values[(values != 0) & (lengths < min_samples[values])] = 0
    _, lengths, values = _runs(np.repeat(values, lengths))
    return np.repeat(_fill_gaps(values, lengths, gap), lengths).astype(mask.dtype, copy=False)


def keep_waves_within(mask, first, last):
    """Keep only the waves whose centre lies in ``[first, last]``; the others become background.

    Scoring a delineation against an annotator that covered only part of a record
    (:func:`annotated_span`) should neither count the waves found outside that part
    as false positives nor cut the waves at its edges: a wave is in or out as a whole.

    Parameters
    ----------
    mask : array-like of int, shape (n_samples,)
        Class masks, 0 background.
    first, last : int
        The annotated stretch, in samples, both included.

    Returns
    -------
    numpy.ndarray, shape (n_samples,)

    Examples
    --------
    >>> keep_waves_within([1, 1, 0, 2, 2, 2, 0, 3, 3], first=2, last=6).tolist()
    [0, 0, 0, 2, 2, 2, 0, 0, 0]
    """
    mask = np.asarray(mask)
    starts, lengths, values = _runs(mask)
    centre = starts + (lengths - 1) / 2
    values = np.where((centre >= first) & (centre <= last), values, 0).astype(mask.dtype)
    return np.repeat(values, lengths)


def resample_mask(mask, fs, new_fs, n_samples=None):
    """Resample class masks to ``new_fs`` Hz, each output sample taking the nearest input sample.

    Parameters
    ----------
    mask : array-like of int, shape (..., n_in)
        Class masks at ``fs``.
    fs, new_fs : float
        Current and wanted sampling rates, in Hz.
    n_samples : int, optional
        Output length in samples; default ``round(n_in * new_fs / fs)``.

    Returns
    -------
    numpy.ndarray, shape (..., n_samples)

    Examples
    --------
    >>> resample_mask([0, 1, 1, 0, 2], fs=250, new_fs=500).tolist()
    [0, 1, 1, 1, 1, 0, 0, 2, 2, 2]
    """
    from ecg.ops import alignment, resample

    mask = np.asarray(mask)
    up, down = resample.resample_ratio(fs, new_fs)
    n_out = resample.resampled_length(mask.shape[-1], fs, new_fs) if n_samples is None else int(n_samples)
    positions = np.minimum(alignment.rate_map(n_out, up, down), mask.shape[-1] - 1)
    return alignment.move_per_sample(mask, positions)
