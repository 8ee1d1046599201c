"""ecg.plot: ECG paper drawn to scale (measured on the saved images), real records in every layout,
and the evaluation plots."""
import numpy as np
import pytest
from matplotlib.image import imread

from ecg import EcgDataset
from ecg.errors import ConfigError
from ecg.metrics import aami_report, classification_report
from ecg.plot import (lead_label, plot_class_scores, plot_confusion_matrix, plot_delineation, plot_ecg,
                      plot_history)

MM_PER_INCH = 25.4


def _line_centres(profile, threshold):
    """Centres (pixels) of the runs of ``profile`` below ``threshold``, weighted by their darkness."""
    dark = profile < threshold
    edges = np.flatnonzero(np.diff(np.r_[0, dark.astype(int), 0]))
    centres = []
    for begin, end in zip(edges[::2], edges[1::2]):
        weight = threshold - profile[begin:end]
        centres.append(np.sum(np.arange(begin, end) * weight) / np.sum(weight))
    return np.array(centres)


def _grid_spacing(row):
    """Median spacing of the major (darker) and of all grid lines on one row of pixels (green channel)."""
    paper = np.median(row)
    major = _line_centres(row, paper - 0.25)
    every = _line_centres(row, paper - 0.015)
    return np.median(np.diff(major)), np.median(np.diff(every))


@pytest.mark.parametrize("dpi", [100, 200])
def test_grid_and_trace_are_25_mm_per_s_and_10_mm_per_mv_at_the_saved_dpi(tmp_path, dpi):
    fs, px_per_mm = 500, dpi / MM_PER_INCH
    t = np.arange(6 * fs) / fs
    path = plot_ecg(np.sin(2 * np.pi * t)[None], tmp_path / "sine.png", fs=fs, dpi=dpi, title="")
    image = imread(path)[..., :3]
    height, width = image.shape[:2]
    inches = np.array([width, height]) / dpi
    assert np.all(inches * MM_PER_INCH > [6 * 25, 2 * 10])                  # 6 s and 2 mV fit on the paper

    # the grid, on the bottom rows of pixels (below the time axis: grid only) and on a column
    # at the right edge (right of the trace: grid only)
    for line in (image[-3, :, 1], image[int(height * 0.35):, -4, 1]):
        major, minor = _grid_spacing(line)
        assert major == pytest.approx(5 * px_per_mm, rel=0.02)
        if dpi >= 200:                                                      # 1 mm lines are ~1 px apart
            assert minor == pytest.approx(px_per_mm, rel=0.05)

    # the trace: black pixels right of the lead label, the calibration pulse and heading text
    black = image.max(axis=2) < 0.2
    black[:, : int(width * 0.15)] = False
    rows = np.flatnonzero(black.any(axis=1))
    line_px = 0.7 / 72 * dpi                                                # the trace is 0.7 pt wide
    assert rows[-1] - rows[0] == pytest.approx(2 * 10 * px_per_mm + line_px, abs=line_px + 1.5)   # 2 mV peak to peak
    top_rows = np.array([np.flatnonzero(col)[0] if col.any() else height for col in black.T])
    tops = np.flatnonzero(top_rows <= rows[0] + 2)                         # columns where the sine tops
    crests = [group.mean() for group in np.split(tops, np.flatnonzero(np.diff(tops) > 10 * px_per_mm) + 1)]
    assert len(crests) >= 5
    assert (crests[-1] - crests[0]) / (len(crests) - 1) == pytest.approx(25 * px_per_mm, rel=0.01)  # 1 s


def test_saved_image_size_is_the_paper_size(tmp_path):
    fig = plot_ecg(np.zeros((1, 3000)), fs=300)
    width_mm, height_mm = fig.get_size_inches() * MM_PER_INCH
    assert fig.ecg_scale == {"speed": 25.0, "gain": 10.0, "dpi": 150, "paper_mm": (width_mm, height_mm)}
    assert width_mm >= 10 * 25                                             # 10 s of paper
    image = imread(plot_ecg(np.zeros((1, 3000)), tmp_path / "flat.png", fs=300, dpi=120))
    assert image.shape[1] == pytest.approx(width_mm / MM_PER_INCH * 120, abs=1)
    assert image.shape[0] == pytest.approx(height_mm / MM_PER_INCH * 120, abs=1)


def _texts(fig):
    return [t.get_text() for t in fig.axes[0].texts]


def test_cinc_record_wraps_into_rows_of_10_s(cinc_dir, tmp_path):
    fig = plot_ecg(cinc_dir / "A00001.hea")                                # 30 s, one lead
    texts = _texts(fig)
    assert texts.count("ECG") == 3                                         # three 10 s rows
    assert {"0 s", "10 s", "20 s", "30"} <= set(texts)
    assert "A00001   300 Hz, 1 lead   0-30 s of 30 s" in texts
    short = plot_ecg(cinc_dir / "A00001.hea", start=2, end=4.5)
    assert _texts(short).count("ECG") == 1 and {"2 s", "3", "4"} <= set(_texts(short))
    assert plot_ecg(cinc_dir / "A00001", tmp_path / "a.svg", start=0, end=5).read_text().startswith("<?xml")


def test_mitdb_beats_and_rhythm_notes_from_the_atr_file(fixture_dir):
    from ecg.io import read_annotation

    ann = read_annotation(fixture_dir / "mitdb" / "201", "atr")
    fig = plot_ecg(fixture_dir / "mitdb" / "201", start=0, end=20)
    texts = _texts(fig)
    in_range = ann["sample"] < 20 * 360
    beats = [s for s, keep in zip(ann["symbol"], in_range) if keep and s != "+"]
    assert sum(t in ("N", "A", "V", "a", "J", "F") for t in texts) == len(beats)
    assert "(AFIB" in texts                                                # the rhythm note at sample 0... 
    assert texts.count("(AFIB") >= 2                                       # ... and in force at 10 s
    assert texts.count("MLII") == 2 and texts.count("V1") == 2
    one = plot_ecg(fixture_dir / "mitdb" / "201", start=30, end=40, leads=["MLII"])
    assert "V1" not in _texts(one) and any("MLII of 2 leads" in t for t in _texts(one))


def test_a_batch_with_detected_r_peaks_marks_them_on_every_lead(fixture_dir):
    ds = EcgDataset(path=str(fixture_dir / "mitdb" / "*.hea"))
    batch = (ds.p.load(fmt="wfdb", components=["signal", "meta", "annotation"], ann_ext="atr")
             .find_r_peaks(lead="MLII")).next_batch(3, shuffle=False, n_epochs=1)
    index = list(batch.indices).index("208")
    fig = plot_ecg(batch, index=index, start=60, end=70)
    peaks = batch.annotation[index]["rpeaks"]["sample"]
    expected = int(np.sum((peaks >= 60 * 360) & (peaks < 70 * 360)))
    markers = [line for line in fig.axes[0].lines if line.get_marker() == "o"]
    assert expected > 5 and len(markers) == 2                                # one marker set per lead
    assert all(len(line.get_xdata()) == expected for line in markers)
    assert "V" in _texts(fig)                                              # 208 has many PVCs
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "R peak" in labels and "V beat" in labels and "S beat" not in labels


def _wave_patches(fig):
    from matplotlib.collections import PatchCollection

    return sum(len(c.get_paths()) for c in fig.axes[0].collections if isinstance(c, PatchCollection))


def test_ludb_12_lead_layout_with_each_leads_own_masks(fixture_dir, tmp_path):
    from ecg.io import read_annotation
    from ecg.ops.masks import annotations_to_mask, mask_to_intervals

    record = fixture_dir / "ludb" / "1"
    fig = plot_ecg(record, layout="12", mask="leads")
    texts = _texts(fig)
    for lead in ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"):
        assert texts.count(lead) == (2 if lead == "II" else 1)              # II again as the rhythm strip
    expected = 0
    for k, (row, rhythm) in enumerate(((("i", "avr", "v1", "v4"), None), (("ii", "avl", "v2", "v5"), None),
                                       (("iii", "avf", "v3", "v6"), None), (("ii",), True))):
        for c, lead in enumerate(row):
            ann = read_annotation(record, lead)
            mask = annotations_to_mask(ann["sample"], ann["symbol"], 5000)
            part = mask if rhythm else mask[c * 1250:(c + 1) * 1250]
            expected += sum(len(runs) for runs in mask_to_intervals(part, 3).values())
    assert _wave_patches(fig) == expected > 50
    assert plot_ecg(record, tmp_path / "ludb.png", layout="12", mask="leads").stat().st_size > 50_000


def test_ptbxl_12_lead_and_a_prediction_overlay(fixture_dir):
    record = fixture_dir / "ptbxl" / "records500" / "00000" / "00001_hr"
    fig = plot_ecg(record, layout="12", rhythm=["II", "V1"])
    assert _texts(fig).count("V1") == 2 and _texts(fig).count("II") == 2
    mask = np.zeros(5000, dtype=int)
    mask[1000:1050], mask[2000:2040] = 2, 1
    both = plot_ecg(record, leads=["II"], mask=mask, pred_mask=np.roll(mask, 10), end=5)
    assert _wave_patches(both) == 4                                        # 2 waves, annotation and prediction
    legend = [t.get_text() for t in both.axes[0].get_legend().get_texts()]
    assert legend[:3] == ["P", "QRS", "T"] and "lower half prediction" in legend[3]


def test_errors_teach(fixture_dir, cinc_dir):
    with pytest.raises(ConfigError, match=r"layout '12' needs the 12 standard leads; the record lacks \['I'"):
        plot_ecg(fixture_dir / "mitdb" / "100", layout="12")
    with pytest.raises(ConfigError, match="at most max_seconds=120 s"):
        plot_ecg(fixture_dir / "mitdb" / "100", start=0, end=600)
    with pytest.raises(ConfigError, match=r"no such annotation; it has \['atr'\]"):
        plot_ecg(fixture_dir / "mitdb" / "100", beats="qrs", end=5)
    with pytest.raises(ConfigError, match=r"no lead .V2. in the record; its leads are \[.MLII., .V5.\]"):
        plot_ecg(fixture_dir / "mitdb" / "100", leads=["V2"], end=5)
    with pytest.raises(ConfigError, match="needs its sampling rate"):
        plot_ecg(np.zeros((1, 100)))
    with pytest.raises(ConfigError, match=r"Expected mask of shape \(9000,\)"):
        plot_ecg(cinc_dir / "A00001", mask=np.zeros(10, int))
    with pytest.raises(ConfigError, match="Expected 0 <= start < end <= 30 s"):
        plot_ecg(cinc_dir / "A00001", start=31)
    # a long record without a range: its first max_seconds, and the heading says so
    assert "0-120 s of 1805.56 s" in " ".join(_texts(plot_ecg(fixture_dir / "mitdb" / "100", leads=[0])))


def test_lead_labels():
    assert [lead_label(n) for n in ("avl", "V6", "ii", "ECG")] == ["aVL", "V6", "II", "ECG"]


def test_class_score_bars_are_the_reports_numbers(tmp_path):
    true, pred = [0, 0, 0, 1, 1, 2, 2, 2], [0, 0, 1, 1, 1, 2, 0, 2]
    table = aami_report(true, pred, classes=["N", "S", "V"])
    fig = plot_class_scores(table)
    bars = [p.get_height() for p in fig.axes[0].patches]
    assert bars == pytest.approx(list(table["Se"]) + list(table["+P"]))
    report = classification_report(true, pred, classes=["N", "S", "V"])
    fig = plot_class_scores(report)
    assert [p.get_height() for p in fig.axes[0].patches] == pytest.approx(
        [report[c]["recall"] for c in "NSV"] + [report[c]["precision"] for c in "NSV"])
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["N\n(n=3)", "S\n(n=2)", "V\n(n=3)"]
    assert plot_class_scores(table, tmp_path / "se.png").stat().st_size > 5000


def test_run_plots_save_a_file_or_return_the_figure(tmp_path):
    rows = [{"epoch": e, "batches": 3, "loss": 1 / e, "f1_score": e / 4, "val_score": 0.5 + e / 10, "val_A_F1": 0.1}
            for e in range(1, 4)]
    assert plot_history(rows, tmp_path / "h.png").stat().st_size > 5000
    fig = plot_history(rows, score_name="validation F1")
    assert fig.axes[0].get_xlabel() == "epoch"
    assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()] == [
        "training loss", "training f1_score", "validation F1"]
    assert list(fig.axes[1].get_lines()[-1].get_ydata()) == [0.6, 0.7, 0.8]
    assert plot_confusion_matrix([[3, 1], [0, 2]], ["N", "A"], tmp_path / "cm.png").is_file()
    mask = np.zeros(500, int)
    mask[100:140] = 2
    fig = plot_delineation(np.sin(np.arange(500) / 20), 250, mask, np.roll(mask, 5))
    assert len(fig.axes) == 2


def test_plotting_leaves_pyplot_and_the_backend_alone():
    import subprocess
    import sys

    code = ("import sys, numpy as np, matplotlib; matplotlib.use('svg'); from ecg.plot import plot_ecg; "
            "plot_ecg(np.zeros((1, 900)), fs=300); print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["svg", "False"]
