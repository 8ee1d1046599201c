"""Plots of records, training runs and evaluations (matplotlib), as PNG/SVG files or figures.

* :func:`plot_ecg`: a record on standard ECG paper (25 mm/s, 10 mm/mV, 1 mm and 5 mm
  grid, drawn to scale), leads stacked or in the 12-lead 3x4 + rhythm layout, with beat
  symbols, R peaks and P/QRS/T masks as coloured bands.
* :func:`plot_history`: loss and training metrics per epoch, with the validation score.
* :func:`plot_confusion_matrix`: counts and row-normalised rates of a confusion matrix.
* :func:`plot_class_scores`: per-class sensitivity and positive predictivity bars.
* :func:`plot_delineation`: one lead with its annotated and predicted waves as coloured bands.

Every function draws on a ``matplotlib.figure.Figure`` of its own, outside pyplot: no
global state and no backend switch, so they run in threads and keep a notebook's inline
backend. Given a ``path`` they save the figure there and return the path; without one
they return the figure (a notebook cell shows it).
"""
import numpy as np


def _figure(**kwargs):
    """A matplotlib ``Figure`` outside pyplot: no global state, no backend switch (a notebook's
    inline backend stays on; ``display(fig)`` or the cell's last value shows it)."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def _finish(fig, path):
    """Save ``fig`` to ``path`` and return ``path``, or return ``fig`` itself when ``path`` is None."""
    if path is None:
        return fig
    fig.savefig(path)
    return path


def plot_history(rows, path=None, score_name="validation score"):
    """Training curves: the loss (left axis), the training metrics and the validation score (right axis) per epoch.

    Parameters
    ----------
    rows : list of dict
        One per epoch, with ``epoch``, ``loss`` and optionally ``val_score`` and training
        metrics (``history.csv``'s rows; ``val_*`` details, ``batches`` and ``seconds`` are
        not drawn).
    path : str or Path, optional
        Output file; the extension chooses the format (``.png``, ``.svg``). Without it
        the figure is returned (a notebook shows it).
    score_name : str
        Label of the validation score.

    Returns
    -------
    Path or matplotlib.figure.Figure
        ``path``, or the figure when no ``path`` is given.
    """
    epochs = [row["epoch"] for row in rows]
    fig = _figure(figsize=(7, 4), dpi=120)
    ax = fig.subplots()
    from matplotlib.ticker import MaxNLocator

    ax.plot(epochs, [row["loss"] for row in rows], "o-", color="tab:blue", label="training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss", color="tab:blue")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    metrics = [key for key in (rows[0] if rows else {}) if key not in ("epoch", "batches", "seconds", "loss", "member")
               and not key.startswith("val_") and isinstance(rows[0][key], (int, float))]
    if rows and ("val_score" in rows[0] or metrics):
        right = ax.twinx()
        for key, colour in zip(metrics, ("tab:orange", "tab:green", "tab:purple", "tab:brown")):
            right.plot(epochs, [row[key] for row in rows], "^--", color=colour, lw=1, label=f"training {key}")
        if "val_score" in rows[0]:
            scores = [row["val_score"] for row in rows]
            right.plot(epochs, scores, "s-", color="tab:red", label=score_name)
            best = int(np.argmax(scores))
            right.annotate(f"best {scores[best]:.3f}", (epochs[best], scores[best]), textcoords="offset points",
                           xytext=(0, 8), ha="center", color="tab:red")
        right.margins(y=0.15)
        right.set_ylabel(score_name if not metrics else f"{score_name} / training metrics", color="tab:red")
        lines = ax.get_lines() + right.get_lines()
        right.legend(lines, [line.get_label() for line in lines], fontsize=8, loc="best", framealpha=0.9)
    ax.set_title("training curves")
    fig.tight_layout()
    return _finish(fig, path)


def plot_confusion_matrix(cm, classes, path=None, title="confusion matrix"):
    """A confusion matrix (rows true, columns predicted): recall-normalised colours, counts written in.

    Parameters
    ----------
    cm : array-like of int, shape (n_classes, n_classes)
        Counts.
    classes : sequence of str
        Class names.
    path : str or Path, optional
        Output file; without it the figure is returned.
    title : str
        Figure title.

    Returns
    -------
    Path or matplotlib.figure.Figure
        ``path``, or the figure when no ``path`` is given.
    """
    cm = np.asarray(cm)
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    size = 1.2 + 0.9 * len(classes)
    fig = _figure(figsize=(size + 1.2, size), dpi=120)
    ax = fig.subplots()
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(cm):
        ax.text(j, i, f"{count}\n{rates[i, j]:.0%}", ha="center", va="center", fontsize=9,
                color="white" if rates[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(classes)), classes)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the true class")
    fig.tight_layout()
    return _finish(fig, path)


WAVE_COLOURS = ("tab:green", "tab:red", "tab:blue", "tab:purple", "tab:orange")
"""Band colours of the wave classes 1, 2, ... (P green, QRS red, T blue)."""


def plot_delineation(signal, fs, true_mask, pred_mask, path=None, waves=("P", "QRS", "T"), span=None,
                     title="delineation"):
    """One lead twice: with its annotated waves (top) and its predicted waves (bottom) as bands.

    Parameters
    ----------
    signal : array-like of float, shape (n_samples,)
        The lead, at ``fs``.
    fs : float
        Sampling rate of ``signal`` and of both masks, in Hz.
    true_mask, pred_mask : array-like of int, shape (n_samples,)
        Class masks: 0 background, ``k`` the wave ``waves[k - 1]``.
    path : str or Path, optional
        Output file; the extension chooses the format. Without it the figure is returned.
    waves : sequence of str
        Names of the mask values 1, 2, ...
    span : tuple of int, optional
        ``(first, last)`` annotated sample: the rest is greyed out in both panels (the
        annotator left it out, so it is not scored).
    title : str
        Figure title.

    Returns
    -------
    Path or matplotlib.figure.Figure
        ``path``, or the figure when no ``path`` is given.
    """
    from matplotlib.patches import Patch

    from ecg.ops.masks import mask_to_intervals

    signal = np.asarray(signal, dtype=np.float64).reshape(-1)
    t = np.arange(signal.size) / fs
    fig = _figure(figsize=(12, 5), dpi=120)
    axes = fig.subplots(2, 1, sharex=True, sharey=True)
    for ax, mask, name in zip(axes, (true_mask, pred_mask), ("annotation", "prediction")):
        for k, runs in mask_to_intervals(np.asarray(mask), len(waves)).items():
            for onset, offset in runs:
                ax.axvspan(onset / fs, (offset + 1) / fs, color=WAVE_COLOURS[(k - 1) % len(WAVE_COLOURS)],
                           alpha=0.3, lw=0)
        if span is not None:
            ax.axvspan(0, span[0] / fs, color="0.85", alpha=0.8, lw=0, zorder=0)
            ax.axvspan((span[1] + 1) / fs, signal.size / fs, color="0.85", alpha=0.8, lw=0, zorder=0)
        ax.plot(t, signal, color="black", lw=0.8)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.set_xlim(0, signal.size / fs)
    handles = [Patch(color=WAVE_COLOURS[k % len(WAVE_COLOURS)], alpha=0.3, label=w) for k, w in enumerate(waves)]
    if span is not None:
        handles.append(Patch(color="0.85", label="not annotated (not scored)"))
    axes[0].legend(handles=handles, loc="upper right", ncol=len(handles), fontsize=8)
    axes[-1].set_xlabel("time (s)")
    axes[0].set_title(title)
    fig.tight_layout()
    return _finish(fig, path)


# --- ECG paper ---------------------------------------------------------------------------------
PAPER_SPEED = 25.0
"""Paper speed of :func:`plot_ecg`, in mm/s (the clinical standard)."""
PAPER_GAIN = 10.0
"""Gain of :func:`plot_ecg`, in mm/mV (the clinical standard)."""
PAPER_COLOURS = {"paper": "#fffbfb", "minor": "#f6caca", "major": "#e48f8f", "trace": "#111111"}
"""Colours of the paper, of its 1 mm and 5 mm grid lines and of the trace."""
STANDARD_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
LAYOUT_12 = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))
"""The 3x4 rows of the standard 12-lead printout; each column shows a quarter of the time."""
BEAT_COLOURS = {"N": "0.35", "S": "tab:orange", "V": "tab:red", "F": "tab:purple", "Q": "tab:brown"}
"""Colours of the beat symbols by AAMI class (:data:`ecg.ops.beats.AAMI_LABELS`)."""

_NOT_ANNOTATIONS = {"hea", "dat", "mat", "edf", "csv", "json", "txt", "png", "svg", "pdf", "npz", "npy", "xyz"}
_LEFT, _RIGHT, _TOP, _STRIP, _TIME = 15.0, 5.0, 15.0, 5.0, 5.0   # margins and strips, in mm


def lead_label(name):
    """The clinical spelling of a lead name: ``"avr"`` -> ``"aVR"``, ``"v1"`` -> ``"V1"``; others unchanged.

    Examples
    --------
    >>> [lead_label(n) for n in ("i", "AVF", "v5", "MLII")]
    ['I', 'aVF', 'V5', 'MLII']
    """
    for standard in STANDARD_LEADS:
        if str(name).lower() == standard.lower():
            return standard
    return str(name)


def _record_view(record, index, segment, fs, sig_name):
    """Signal ``(n_leads, n_samples)``, rate, lead names, annotations, name and masks of any source."""
    import glob
    from pathlib import Path

    from ecg.errors import ConfigError

    annotation, target, name = {}, None, None
    if hasattr(record, "signal") and hasattr(record, "meta"):            # an EcgBatch
        batch = record
        if not 0 <= index < len(batch):
            raise ConfigError(f"Expected 0 <= index < {len(batch)} (the batch's records). Received: index={index}")
        signal, meta = np.asarray(batch.signal[index]), batch.meta[index]
        annotation = dict(batch.annotation[index] or {}) if batch.annotation is not None else {}
        target = batch.target[index] if getattr(batch, "target", None) is not None else None
        name = batch.record_name(index)
        if signal.ndim == 3:                                               # a split record
            if not 0 <= segment < signal.shape[0]:
                raise ConfigError(f"Expected 0 <= segment < {signal.shape[0]} (the record's segments). "
                                  f"Received: segment={segment}")
            signal = signal[segment]
            annotation = {k: (v[segment] if isinstance(v, list) else v) for k, v in annotation.items()}
            if target is not None and np.ndim(target) == 2:
                target = np.asarray(target)[segment]
            name = f"{name} (segment {segment})"
        fs, sig_name = meta["fs"], sig_name or meta.get("sig_name")
    elif isinstance(record, (str, Path)):
        from ecg.io import read_annotation, read_record

        signal, meta = read_record(record)
        fs, sig_name, name = meta["fs"], sig_name or meta["sig_name"], meta.get("record", Path(record).stem)
        base = Path(str(record)[:-4] if str(record).endswith(".hea") else str(record))
        for file in sorted(base.parent.glob(f"{glob.escape(base.name)}.*")):   # every annotator beside it
            ext = file.suffix[1:]
            if ext.lower() not in _NOT_ANNOTATIONS:
                annotation[ext] = read_annotation(base, ext, n_samples=signal.shape[-1])
    elif isinstance(record, tuple) and len(record) == 2 and isinstance(record[1], dict):   # read_record's
        signal, meta = record
        fs, sig_name, name = meta["fs"], sig_name or meta.get("sig_name"), meta.get("record")
    else:
        signal = np.asarray(record)
        if fs is None:
            raise ConfigError("plot_ecg of an array needs its sampling rate: plot_ecg(signal, fs=500)")
    signal = np.atleast_2d(np.asarray(signal, dtype=np.float64))
    if signal.ndim != 2:
        raise ConfigError(f"Expected a signal (n_leads, n_samples). Received: shape {signal.shape}")
    if fs is None or not float(fs) > 0:
        raise ConfigError(f"Expected a sampling rate fs > 0 in Hz. Received: fs={fs!r}")
    names = [lead_label(n) for n in (sig_name if sig_name is not None else range(signal.shape[0]))]
    if len(names) != signal.shape[0]:
        raise ConfigError(f"Expected one name per lead: {signal.shape[0]} leads. Received: sig_name={sig_name!r}")
    return signal, float(fs), names, annotation, target, name


def _resolve_mask(mask, signal, names, annotation, target, n_waves, what):
    """Per-lead masks ``(n_leads, n_samples)`` of ``mask`` (an array, ``"target"``, ``"leads"`` or an annotator)."""
    from ecg.errors import ConfigError
    from ecg.ops.masks import WAVE_CLASSES, annotations_to_mask

    if mask is None:
        return None
    n_leads, n_samples = signal.shape
    classes = WAVE_CLASSES[:n_waves] if n_waves <= len(WAVE_CLASSES) else WAVE_CLASSES

    def from_annotator(ext):
        if ext not in annotation:
            raise ConfigError(f"{what}={mask!r}: the record has no {ext!r} annotation; it has "
                              f"{sorted(annotation) or 'none'}")
        ann = annotation[ext]
        return annotations_to_mask(ann["sample"], ann["symbol"], n_samples, classes)

    if isinstance(mask, str) and mask == "target":
        if target is None or np.ndim(target) != 1 or np.shape(target)[0] != n_samples:
            raise ConfigError(f"{what}='target' needs a per-sample target (annotation_to_mask first)")
        mask = target
    elif isinstance(mask, str) and mask == "leads":
        return np.stack([from_annotator(n.lower()) for n in names])
    elif isinstance(mask, str):
        mask = from_annotator(mask)
    mask = np.asarray(mask)
    if mask.shape == (n_samples,):
        return np.broadcast_to(mask, (n_leads, n_samples))
    if mask.shape != (n_leads, n_samples):
        raise ConfigError(f"Expected {what} of shape ({n_samples},) or ({n_leads}, {n_samples}) (samples, or "
                          f"leads and samples). Received: shape {mask.shape}")
    return mask


def _samples_of(annotator, annotation, what):
    """Sample indices and symbols of an annotator name (in ``annotation``) or of an array of samples."""
    from ecg.errors import ConfigError

    if annotator is None:
        return None
    if isinstance(annotator, str):
        if annotator not in annotation:
            raise ConfigError(f"{what}={annotator!r}: the record has no such annotation; it has "
                              f"{sorted(annotation) or 'none'}")
        ann = annotation[annotator]
        return np.asarray(ann["sample"], dtype=np.int64), np.asarray(ann["symbol"], dtype=str), \
            np.asarray(ann.get("aux_note", [""] * len(ann["sample"])), dtype=str)
    samples = np.asarray(annotator, dtype=np.int64).reshape(-1)
    return samples, np.full(samples.shape, "N"), np.full(samples.shape, "")


class _Paper:
    """Drawing on ECG paper in millimetres: x from the left edge, y from the bottom edge."""

    def __init__(self, width, height, dpi, speed, gain):
        self.width, self.height, self.speed, self.gain = width, height, speed, gain
        self.fig = _figure(figsize=(width / 25.4, height / 25.4), dpi=dpi)
        self.ax = self.fig.add_axes((0, 0, 1, 1))
        self.ax.set_xlim(0, width)
        self.ax.set_ylim(0, height)
        self.ax.set_axis_off()
        self.fig.patch.set_facecolor(PAPER_COLOURS["paper"])

    def grid(self, x0, y0, x1, y1):
        """1 mm minor and 5 mm major lines over the rectangle ``(x0, y0)-(x1, y1)`` (on 1 mm steps)."""
        from matplotlib.collections import LineCollection

        for step, colour, width, z in ((1, "minor", 0.25, 0), (5, "major", 0.6, 0.1)):
            xs = np.arange(np.ceil(x0 / step) * step, x1 + 1e-9, step)
            ys = np.arange(np.ceil(y0 / step) * step, y1 + 1e-9, step)
            if step == 1:                                  # major positions are drawn by the major pass
                xs, ys = xs[np.round(xs) % 5 != 0], ys[np.round(ys) % 5 != 0]
            segments = [((x, y0), (x, y1)) for x in xs] + [((x0, y), (x1, y)) for y in ys]
            self.ax.add_collection(LineCollection(segments, colors=PAPER_COLOURS[colour], linewidths=width,
                                                  zorder=z, capstyle="butt"))

    def calibration(self, x, baseline):
        """The 1 mV, 200 ms calibration pulse at ``x`` mm on ``baseline``."""
        width, height = 0.2 * self.speed, self.gain
        self.ax.plot([x - 2, x, x, x + width, x + width, x + width + 2],
                     [baseline, baseline, baseline + height, baseline + height, baseline, baseline],
                     color=PAPER_COLOURS["trace"], lw=0.8, zorder=3, solid_joinstyle="miter")

    def text(self, x, y, text, **kwargs):
        self.ax.text(x, y, text, zorder=5, **kwargs)


def _wave_bands(paper, mask, x0, t_first, fs, y0, y1, n_waves, first, last):
    """Coloured bands of the waves of ``mask[first:last]`` between heights ``y0`` and ``y1``."""
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    from ecg.ops.masks import mask_to_intervals

    patches, colours = [], []
    for k, runs in mask_to_intervals(np.asarray(mask[first:last]), n_waves).items():
        for onset, offset in runs:
            x = x0 + ((first + onset) / fs - t_first) * paper.speed
            patches.append(Rectangle((x, y0), (offset + 1 - onset) / fs * paper.speed, y1 - y0))
            colours.append(WAVE_COLOURS[(k - 1) % len(WAVE_COLOURS)])
    if patches:
        paper.ax.add_collection(PatchCollection(patches, facecolors=colours, alpha=0.28, lw=0, zorder=1))


def _beat_texts(paper, marks, x0, t_first, t_last, fs, y_beats, y_notes):
    """Beat symbols (coloured by AAMI class) at height ``y_beats``, rhythm notes and other marks at
    ``y_notes``, for times in ``[t_first, t_last)``; the rhythm in force at ``t_first`` starts the line."""
    from ecg.ops.beats import aami_classes

    samples, symbols, notes = marks
    shown = (samples >= t_first * fs) & (samples < t_last * fs)
    rhythm = (symbols == "+") & (np.char.str_len(notes) > 0)
    before = np.flatnonzero(rhythm & (samples < t_first * fs))
    if before.size:
        paper.text(x0 - 1, y_notes, notes[before[-1]].strip("\x00"), ha="left", va="center", fontsize=6.5,
                   color="tab:blue", style="italic")
    classes = aami_classes(symbols[shown])
    for sample, symbol, note, cls in zip(samples[shown], symbols[shown], notes[shown], classes):
        x = x0 + (sample / fs - t_first) * paper.speed
        if cls:
            paper.text(x, y_beats, symbol, ha="center", va="center", fontsize=6.5, color=BEAT_COLOURS[cls],
                       fontweight="bold" if cls != "N" else "normal")
        elif symbol == "+" and note:                    # a rhythm change: its note, e.g. "(AFIB"
            paper.ax.plot([x, x], [y_notes - 1.5, y_notes + 1.5], color="tab:blue", lw=0.8, zorder=4)
            paper.text(x + 0.8, y_notes, note.strip("\x00"), ha="left", va="center", fontsize=6.5,
                       color="tab:blue", style="italic")
        else:
            paper.text(x, y_notes, symbol, ha="center", va="center", fontsize=6, color="0.45")


def _trace(paper, signal, fs, x0, t_first, t_last, baseline, reference, peaks=None):
    """One lead from ``t_first`` to ``t_last`` seconds, ``reference`` mV on ``baseline`` mm."""
    first, last = int(round(t_first * fs)), int(round(t_last * fs))
    first, last = max(first, 0), min(last, signal.size)
    x = x0 + (np.arange(first, last) / fs - t_first) * paper.speed
    y = baseline + (signal[first:last] - reference) * paper.gain
    paper.ax.plot(x, y, color=PAPER_COLOURS["trace"], lw=0.7, zorder=3, solid_joinstyle="round")
    if peaks is not None:
        inside = peaks[(peaks >= first) & (peaks < last)]
        paper.ax.plot(x0 + (inside / fs - t_first) * paper.speed, baseline + (signal[inside] - reference) * paper.gain,
                      "o", ms=3.2, mfc="none", mec="tab:blue", mew=0.8, zorder=4)


def _extent(signal, fs, windows):
    """Largest excursion above and below each window's median, in mV (0.2 and 99.8 percentiles: a
    spike does not blow up the row height), over ``windows`` = ``[(lead, t_first, t_last)]``."""
    above, below = 0.5, 0.3
    for lead, t_first, t_last in windows:
        part = signal[lead, max(int(round(t_first * fs)), 0):int(round(t_last * fs))]
        if part.size:
            low, median, high = np.percentile(part, [0.2, 50, 99.8])
            above, below = max(above, high - median), max(below, median - low)
    return above, below


def _ceil5(mm):
    return 5.0 * np.ceil(mm / 5.0 - 1e-9)


def plot_ecg(record, path=None, *, index=0, segment=0, fs=None, sig_name=None, leads=None, start=0.0, end=None,
             layout="rows", row_seconds=10.0, beats=None, r_peaks=None, mask=None, pred_mask=None,
             waves=("P", "QRS", "T"), rhythm="II", speed=PAPER_SPEED, gain=PAPER_GAIN, dpi=150,
             max_seconds=120.0, title=None):
    """An ECG on standard paper: 1 mm minor and 5 mm major grid, 25 mm/s, 10 mm/mV, lead names.

    The figure is drawn to scale: its size is the paper's size in millimetres, so at
    ``dpi`` a millimetre is ``dpi / 25.4`` pixels and a 5 mm square is 0.2 s by 0.5 mV.
    Each lead is centred on its median; a 1 mV, 200 ms calibration pulse starts each
    row. Rhythm notes and beat symbols of an annotator (coloured by AAMI class: N grey,
    S orange, V red, F purple, Q brown) run along the top of each row block, R peaks
    are blue circles on every lead, and wave masks are coloured bands (P green, QRS
    red, T blue) behind each lead.

    Parameters
    ----------
    record : EcgBatch, str or Path, tuple or array
        An :class:`~ecg.batch.EcgBatch` (record ``index``, its ``segment`` after a split,
        with its annotations and target), a record path (read with
        :func:`ecg.io.read_record`, with its annotation files), ``read_record``'s
        ``(signal, meta)``, or a signal ``(n_leads, n_samples)`` in mV with ``fs``.
    path : str or Path, optional
        Output file (``.png``, ``.svg``, ``.pdf``), saved at ``dpi``. Without it the
        figure is returned (a notebook shows it).
    index, segment : int
        Record of a batch, and segment of a split record.
    fs : float, optional
        Sampling rate in Hz of an array ``record``.
    sig_name : sequence of str, optional
        Lead names (default the record's own).
    leads : sequence of str or int, optional
        Leads to draw, by name or position (default all); ``layout="rows"`` only.
    start, end : float
        Time range in seconds (default the whole record from ``start``, at most
        ``max_seconds``; with ``layout="12"``, ``row_seconds``).
    layout : {"rows", "12"}
        ``"rows"``: every lead stacked, the range wrapped into blocks of ``row_seconds``.
        ``"12"``: the standard 12-lead printout, 3 rows of 4 columns (I, aVR, V1, V4 /
        II, aVL, V2, V5 / III, aVF, V3, V6), each column a quarter of the range, and
        the ``rhythm`` lead(s) over the whole range below.
    row_seconds : float
        Seconds of one row (10 s: 250 mm of paper).
    beats : str, optional
        Annotator whose symbols are written (default ``"atr"`` when the record has it).
    r_peaks : str or array-like of int, optional
        Annotator (default ``"rpeaks"``, the one :meth:`~ecg.batch.EcgBatch.find_r_peaks`
        writes, when present) or sample indices of R peaks to mark.
    mask, pred_mask : array-like of int, or str, optional
        Wave masks (0 background, ``k`` the wave ``waves[k - 1]``) of shape
        ``(n_samples,)`` (every lead) or ``(n_leads, n_samples)``; or ``"target"`` (a
        batch's per-sample target), an annotator name (turned into a mask by
        :func:`ecg.ops.masks.annotations_to_mask`), or ``"leads"`` (each lead's own
        annotator, named as the lead: LUDB's ``.i`` ... ``.v6``). With both, the
        upper half of each band is ``mask`` and the lower half ``pred_mask``.
    waves : sequence of str
        Names of the mask values 1, 2, ...
    rhythm : str or sequence of str or None
        Rhythm strip lead(s) of ``layout="12"``.
    speed, gain : float
        Paper speed in mm/s and gain in mm/mV.
    dpi : int
        Resolution of the saved image, in dots per inch.
    max_seconds : float
        Longest range drawn (120 s = 12 rows of paper).
    title : str, optional
        Heading (default: the record, its rate and the range shown).

    Returns
    -------
    Path or matplotlib.figure.Figure
        ``path``, or the figure when no ``path`` is given.

    Raises
    ------
    ConfigError
        An unknown lead, layout or annotator; a 12-lead layout without the 12 leads; a
        mask of another length; a range that is empty or longer than ``max_seconds``.

    Examples
    --------
    >>> fig = plot_ecg(np.sin(np.linspace(0, 20 * np.pi, 3000))[None], fs=300)
    >>> [float(round(v * 25.4, 1)) for v in fig.get_size_inches()]   # mm: 10 s at 25 mm/s is 250 mm, + margins
    [270.0, 55.0]
    """
    from ecg.errors import ConfigError

    if layout not in ("rows", "12"):
        raise ConfigError(f"Expected layout 'rows' (leads stacked) or '12' (3x4 and rhythm). Received: {layout!r}")
    if not (speed > 0 and gain > 0 and row_seconds > 0):
        raise ConfigError(f"Expected speed, gain and row_seconds > 0. Received: {speed}, {gain}, {row_seconds}")
    signal, fs, names, annotation, target, name = _record_view(record, index, segment, fs, sig_name)
    duration = signal.shape[1] / fs
    masks = [_resolve_mask(m, signal, names, annotation, target, len(waves), what)
             for m, what in ((mask, "mask"), (pred_mask, "pred_mask"))]
    beat_marks = _samples_of(beats if beats is not None else ("atr" if "atr" in annotation else None),
                             annotation, "beats")
    peak_marks = _samples_of(r_peaks if r_peaks is not None else ("rpeaks" if "rpeaks" in annotation else None),
                             annotation, "r_peaks")
    peaks = peak_marks[0] if peak_marks is not None else None
    if end is None:
        end = min(duration, start + (row_seconds if layout == "12" else max_seconds))
    if not 0 <= start < end <= duration + 1e-9:
        raise ConfigError(f"Expected 0 <= start < end <= {duration:g} s (the record's length). "
                          f"Received: start={start}, end={end}")
    if end - start > max_seconds + 1e-9:
        raise ConfigError(f"plot_ecg draws at most max_seconds={max_seconds:g} s of paper. Received: "
                          f"start={start}, end={end}: choose a shorter range or raise max_seconds")
    positions = {n.lower(): i for i, n in enumerate(names)}

    def position(lead):
        if isinstance(lead, (int, np.integer)) and 0 <= lead < len(names):
            return int(lead)
        if str(lead).lower() in positions:
            return positions[str(lead).lower()]
        raise ConfigError(f"no lead {lead!r} in the record; its leads are {names}")

    strip = 0.0
    if beat_marks is not None:                     # a second line when there are rhythm notes or other marks
        from ecg.ops.beats import aami_classes

        in_range = (beat_marks[0] >= start * fs) & (beat_marks[0] < end * fs)
        has_notes = np.any((aami_classes(beat_marks[1]) == "") & in_range) or np.any(
            (beat_marks[1] == "+") & (beat_marks[0] < start * fs))
        strip = 2 * _STRIP if has_notes else _STRIP
    if layout == "12":
        missing = [lead for lead in STANDARD_LEADS if lead.lower() not in positions]
        if missing:
            raise ConfigError(f"layout '12' needs the 12 standard leads; the record lacks {missing} (it has {names})")
        rhythm = [] if rhythm is None else [rhythm] if isinstance(rhythm, str) else list(rhythm)
        quarter = (end - start) / 4
        cells = [[(position(lead), start + c * quarter, start + (c + 1) * quarter) for c, lead in enumerate(row)]
                 for row in LAYOUT_12] + [[(position(lead), start, end)] for lead in rhythm]
        width_s = end - start
    else:
        shown = [position(lead) for lead in leads] if leads is not None else list(range(len(names)))
        n_blocks = int(np.ceil((end - start) / row_seconds - 1e-9))
        width_s = min(row_seconds, end - start)
        cells = [[(lead, start + b * row_seconds, min(start + (b + 1) * row_seconds, end))] for b in range(n_blocks)
                 for lead in shown]
    above, below = _extent(signal, fs, [cell for row in cells for cell in row])
    offset = float(min(_ceil5(below * gain + 2), 25))              # baseline above the band's bottom, on a 5 mm line
    band = float(np.clip(_ceil5(offset + above * gain + 4), 15, 60))
    rows_per_block = 3 + len(rhythm) if layout == "12" else len(shown)
    n_leads = signal.shape[0]
    leads_text = (f"{n_leads} lead{'s' * (n_leads > 1)}" if layout == "12" or len(shown) == n_leads
                  else f"{', '.join(names[i] for i in shown)} of {n_leads} leads")
    n_blocks = 1 if layout == "12" else n_blocks
    block = strip + rows_per_block * band + _TIME
    width = max(_ceil5(_LEFT + width_s * speed + _RIGHT), 130.0)       # room for the heading
    head = _TOP if width >= 200 else _TOP + 5                        # narrow paper: the legend on a line of its own
    height = head + n_blocks * block + 5
    paper = _Paper(width, height, dpi, speed, gain)
    paper.grid(0, 0, width, height - head)

    for b in range(n_blocks):
        top = height - head - b * block
        block_rows = cells[b * rows_per_block:(b + 1) * rows_per_block]
        t_block, t_block_end = block_rows[0][0][1], block_rows[-1][-1][2]
        if beat_marks is not None:
            _beat_texts(paper, beat_marks, _LEFT, t_block, t_block_end, fs, top - strip + _STRIP / 2,
                        top - _STRIP / 2)
        for r, row in enumerate(block_rows):
            bottom = top - strip - (r + 1) * band
            baseline = bottom + offset
            paper.calibration(_LEFT - 9, baseline)
            for c, (lead, t_first, t_last) in enumerate(row):
                x0 = _LEFT + (t_first - t_block) * speed
                first, last = int(round(t_first * fs)), min(int(round(t_last * fs)), signal.shape[1])
                for m, (y0, y1) in zip(masks, ((bottom, bottom + band), (bottom, bottom + band / 2))
                                       if masks[1] is None else ((bottom + band / 2, bottom + band),
                                                                 (bottom, bottom + band / 2))):
                    if m is not None:
                        _wave_bands(paper, m[lead], x0, t_first, fs, y0, y1, len(waves), first, last)
                reference = float(np.median(signal[lead, first:last])) if last > first else 0.0
                _trace(paper, signal[lead], fs, x0, t_first, t_last, baseline, reference, peaks)
                paper.text(x0 + 1, bottom + band - 1.5, names[lead], ha="left", va="top", fontsize=8,
                           fontweight="bold", bbox={"fc": PAPER_COLOURS["paper"], "ec": "none", "alpha": 0.7,
                                                    "pad": 0.6})
                if c:                                        # the column boundary mark of the printout
                    paper.ax.plot([x0, x0], [baseline - 2.5, baseline + 2.5], color=PAPER_COLOURS["trace"], lw=0.8)
        axis = top - block + _TIME
        seconds = np.arange(np.ceil(t_block - 1e-9), t_block_end + 1e-9)
        for second in seconds:
            x = _LEFT + (second - t_block) * speed
            paper.ax.plot([x, x], [axis, axis - 1.5], color="0.3", lw=0.6, zorder=4)
            paper.text(x, axis - 1.8, f"{second + 0:g} s" if second == seconds[0] else f"{second:g}", ha="center",
                       va="top", fontsize=6, color="0.3")
    heading = title if title is not None else (
        f"{name + '   ' if name else ''}{fs:g} Hz, {leads_text}   "
        f"{start:g}-{end:g} s of {duration:g} s")
    paper.text(3, height - 4, heading, ha="left", va="top", fontsize=9, fontweight="bold")
    paper.text(3, height - 9.5, f"{speed:g} mm/s   {gain:g} mm/mV   grid 1 mm = {1000 / speed:g} ms, "
               f"{1 / gain:g} mV; 5 mm = {5000 / speed:g} ms, {5 / gain:g} mV", ha="left", va="top",
               fontsize=6.5, color="0.25")
    _legend(paper, masks, waves, beat_marks, start * fs, end * fs, peak_marks)
    paper.fig.ecg_scale = {"speed": speed, "gain": gain, "dpi": dpi, "paper_mm": (width, height)}
    if path is None:
        return paper.fig
    paper.fig.savefig(path, dpi=dpi, facecolor=paper.fig.get_facecolor())
    return path


def _legend(paper, masks, waves, beat_marks, first, last, peak_marks):
    """Keys of the bands and marks, at the top right of the paper."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from ecg.ops.beats import aami_classes

    handles = []
    if masks[0] is not None:
        handles += [Patch(color=WAVE_COLOURS[k % len(WAVE_COLOURS)], alpha=0.35, label=w) for k, w in enumerate(waves)]
        if masks[1] is not None:
            handles.append(Patch(color="none", label="band: upper half annotation, lower half prediction"))
    if beat_marks is not None:
        present = set(aami_classes(beat_marks[1][(beat_marks[0] >= first) & (beat_marks[0] < last)]))
        handles += [Line2D([], [], ls="none", marker=f"${cls}$", color=colour, label=f"{cls} beat")
                    for cls, colour in BEAT_COLOURS.items() if cls in present]
    if peak_marks is not None:
        handles.append(Line2D([], [], ls="none", marker="o", mfc="none", mec="tab:blue", ms=4, label="R peak"))
    if handles:
        below = 1.5 if paper.width >= 200 else 14.5
        paper.ax.legend(handles=handles, loc="upper right", bbox_to_anchor=(1, 1 - below / paper.height),
                        ncol=len(handles), fontsize=6.5, frameon=False, handlelength=1.2, columnspacing=1.2,
                        borderaxespad=0.3)


def plot_class_scores(scores, path=None, title="sensitivity and positive predictivity per class"):
    """Per-class sensitivity (Se) and positive predictivity (+P) as paired bars, with the counts.

    Parameters
    ----------
    scores : pandas.DataFrame or dict
        :func:`ecg.metrics.aami_report`'s table (columns ``Se``, ``+P``, ``TP``, ``FN``,
        ``FP``), or :func:`ecg.metrics.classification_report`'s dict (``recall``,
        ``precision``, ``support`` per class).
    path : str or Path, optional
        Output file; without it the figure is returned.
    title : str
        Figure title.

    Returns
    -------
    Path or matplotlib.figure.Figure
        ``path``, or the figure when no ``path`` is given.

    Examples
    --------
    >>> from ecg.metrics import aami_report
    >>> fig = plot_class_scores(aami_report([0, 0, 1, 2], [0, 1, 1, 1], classes=["N", "S", "V"]))
    >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
    ['N\\n(n=2)', 'S\\n(n=1)', 'V\\n(n=1)']
    """
    if hasattr(scores, "columns"):
        classes = [str(c) for c in scores.index]
        se, ppv = scores["Se"].to_numpy(float), scores["+P"].to_numpy(float)
        support = (scores["TP"] + scores["FN"]).to_numpy(int)
    else:
        classes = [c for c, v in scores.items() if isinstance(v, dict) and "recall" in v]
        se = np.array([scores[c]["recall"] for c in classes], float)
        ppv = np.array([scores[c]["precision"] for c in classes], float)
        support = np.array([scores[c]["support"] for c in classes], int)
    fig = _figure(figsize=(1.6 + 1.1 * len(classes), 3.8), dpi=120)
    ax = fig.subplots()
    x = np.arange(len(classes))
    for shift, values, label, colour in ((-0.2, se, "Se (sensitivity)", "tab:blue"),
                                         (0.2, ppv, "+P (positive predictivity)", "tab:orange")):
        bars = ax.bar(x + shift, values, 0.38, label=label, color=colour)
        ax.bar_label(bars, labels=[f"{v:.0%}" if np.isfinite(v) else "n/a" for v in values], fontsize=8, padding=2)
    ax.set_xticks(x, [f"{c}\n(n={n})" for c, n in zip(classes, support)])
    ax.set_ylim(0, 1.15)
    ax.set_yticks(np.linspace(0, 1, 6), [f"{v:.0%}" for v in np.linspace(0, 1, 6)])
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper center", ncol=2, fontsize=8, frameon=False, bbox_to_anchor=(0.5, 1.0))
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _finish(fig, path)
