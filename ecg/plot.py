"""Plots of training runs and evaluations, written as PNG or SVG files (matplotlib, no display).

* :func:`plot_history`: loss and training metrics per epoch, with the validation score.
* :func:`plot_confusion_matrix`: counts and row-normalised rates of a confusion matrix.
* :func:`plot_delineation`: one lead with its annotated and predicted waves as coloured bands.
"""
import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_history(rows, path, score_name="validation score"):
    """Training curves: the loss (left axis) and the validation score (right axis) per epoch.

    Parameters
    ----------
    rows : list of dict
        One per epoch, with ``epoch``, ``loss`` and ``val_score`` (``history.csv``'s rows).
    path : str or Path
        Output file; the extension chooses the format (``.png``, ``.svg``).
    score_name : str
        Label of the validation score.

    Returns
    -------
    Path
        ``path``.
    """
    plt = _pyplot()
    epochs = [row["epoch"] for row in rows]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    ax.plot(epochs, [row["loss"] for row in rows], "o-", color="tab:blue", label="training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss", color="tab:blue")
    ax.grid(alpha=0.3)
    if rows and "val_score" in rows[0]:
        right = ax.twinx()
        scores = [row["val_score"] for row in rows]
        right.plot(epochs, scores, "s-", color="tab:red", label=score_name)
        best = int(np.argmax(scores))
        right.annotate(f"best {scores[best]:.3f}", (epochs[best], scores[best]), textcoords="offset points",
                       xytext=(0, 8), ha="center", color="tab:red")
        right.set_ylabel(score_name, color="tab:red")
    ax.set_title("training curves")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_confusion_matrix(cm, classes, path, title="confusion matrix"):
    """A confusion matrix (rows true, columns predicted): recall-normalised colours, counts written in.

    Parameters
    ----------
    cm : array-like of int, shape (n_classes, n_classes)
        Counts.
    classes : sequence of str
        Class names.
    path : str or Path
        Output file.
    title : str
        Figure title.

    Returns
    -------
    Path
        ``path``.
    """
    plt = _pyplot()
    cm = np.asarray(cm)
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    size = 1.2 + 0.9 * len(classes)
    fig, ax = plt.subplots(figsize=(size + 1.2, size), dpi=120)
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
    fig.savefig(path)
    plt.close(fig)
    return path


WAVE_COLOURS = ("tab:green", "tab:red", "tab:blue", "tab:purple", "tab:orange")
"""Band colours of the wave classes 1, 2, ... (P green, QRS red, T blue)."""


def plot_delineation(signal, fs, true_mask, pred_mask, path, waves=("P", "QRS", "T"), span=None,
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
    path : str or Path
        Output file; the extension chooses the format.
    waves : sequence of str
        Names of the mask values 1, 2, ...
    span : tuple of int, optional
        ``(first, last)`` annotated sample: the rest is greyed out in both panels (the
        annotator left it out, so it is not scored).
    title : str
        Figure title.

    Returns
    -------
    Path
        ``path``.
    """
    from matplotlib.patches import Patch

    from ecg.ops.masks import mask_to_intervals

    plt = _pyplot()
    signal = np.asarray(signal, dtype=np.float64).reshape(-1)
    t = np.arange(signal.size) / fs
    fig, axes = plt.subplots(2, 1, figsize=(12, 5), dpi=120, sharex=True, sharey=True)
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
    fig.savefig(path)
    plt.close(fig)
    return path
