"""PreprocessingMixin actions of EcgBatch on real records, against ecg.ops / scipy called directly."""
import numpy as np
import pytest
from batchflow import DatasetIndex, Pipeline
from scipy import signal

from ecg.batch import EcgBatch
from ecg.errors import LabelError, RecordError

CINC = ["A00001", "A00004", "A00005", "A00009"]  # N, A, A, A


def make_batch(folder, names, **load):
    return EcgBatch(DatasetIndex(names)).load(src=str(folder), fmt="wfdb", **load)


@pytest.fixture
def cinc(cinc_dir):
    batch = make_batch(cinc_dir, CINC)
    return batch.load(src=str(cinc_dir / "REFERENCE.csv"), fmt="csv")


@pytest.fixture
def ptbxl(fixture_dir):
    return make_batch(fixture_dir / "ptbxl" / "records500" / "00000", ["00001_hr", "00002_hr", "00003_hr"])


@pytest.fixture
def mitdb(fixture_dir):
    batch = make_batch(fixture_dir / "mitdb", ["100", "208"], components=["signal", "meta", "annotation"],
                       ann_ext="atr")
    return batch.crop_signals(360 * 60)


def test_band_pass_matches_scipy_per_record(cinc, ptbxl):
    for batch, fs in ((cinc, 300), (ptbxl, 500)):
        raw = [s.copy() for s in batch.signal]
        batch.band_pass_signals(0.5, 40)
        sos = signal.butter(4, [0.5, 40], btype="bandpass", fs=fs, output="sos")
        for before, after in zip(raw, batch.signal):
            assert after.dtype == np.float32 and after.shape == before.shape
            np.testing.assert_allclose(after, signal.sosfiltfilt(sos, before, axis=-1), atol=1e-4)


def test_band_pass_high_and_low_pass_and_nyquist_error(cinc):
    raw = cinc.signal[0].copy()
    cinc.band_pass_signals(low=None, high=30)
    sos = signal.butter(4, 30, btype="lowpass", fs=300, output="sos")
    np.testing.assert_allclose(cinc.signal[0], signal.sosfiltfilt(sos, raw, axis=-1), atol=1e-4)
    with pytest.raises(RecordError, match="A00001.*Nyquist"):
        cinc.band_pass_signals(0.5, 200)


def test_notch_fir_and_baseline_run_on_each_fs(cinc, ptbxl):
    for batch in (cinc, ptbxl):
        shapes = [s.shape for s in batch.signal]
        batch.notch_signals(50).fir_band_pass_signals(1, 40).remove_baseline()
        assert [s.shape for s in batch.signal] == shapes


def test_resample_matches_resample_poly_and_moves_annotations(mitdb):
    raw = [s.copy() for s in mitdb.signal]
    samples = [a["atr"]["sample"].copy() for a in mitdb.annotation]
    mitdb.resample_signals(250)
    for before, after, meta in zip(raw, mitdb.signal, mitdb.meta):
        np.testing.assert_allclose(after, signal.resample_poly(before, 25, 36, axis=-1), atol=1e-5)
        assert meta["fs"] == 250 and meta["n_samples"] == after.shape[-1] == 15000
    for old, ann, sig in zip(samples, mitdb.annotation, mitdb.signal):
        new = ann["atr"]["sample"]
        np.testing.assert_array_equal(new, np.floor(old * 250 / 360 + 0.5).astype(int))
        beats = new[np.isin(ann["atr"]["symbol"], ["N", "V"])]
        beats = beats[(beats > 10) & (beats < sig.shape[-1] - 10)]
        # every beat annotation still sits on a QRS: a large slope within 40 ms
        slope = np.abs(np.diff(sig[0]))
        near = np.array([slope[b - 10:b + 10].max() for b in beats])
        assert (near > 3 * np.median(slope)).mean() > 0.99


def test_resample_mixed_rates(cinc, ptbxl):
    cinc.resample_signals(250)
    ptbxl.resample_signals(250)
    assert cinc.signal[0].shape[-1] == cinc.meta[0]["n_samples"] == 7500
    assert ptbxl.signal[0].shape == (12, 2500)


@pytest.mark.parametrize("method", ["zscore", "minmax", "robust"])
def test_normalize(ptbxl, method):
    ptbxl.normalize_signals(method, axis="lead")
    x = np.stack(list(ptbxl.signal))
    if method == "zscore":
        np.testing.assert_allclose(x.mean(-1), 0, atol=1e-4)
        np.testing.assert_allclose(x.std(-1), 1, atol=1e-3)
    elif method == "minmax":
        np.testing.assert_allclose(x.min(-1), 0, atol=1e-6)
    else:
        np.testing.assert_allclose(np.median(x, -1), 0, atol=1e-5)


def test_normalize_record_axis(ptbxl):
    ptbxl.normalize_signals("zscore", axis="record")
    assert abs(float(ptbxl.signal[1].std()) - 1) < 1e-3


def test_split_repeats_target_and_matches_slices(cinc):
    raw = [s.copy() for s in cinc.signal]
    cinc.split_signals(3000, 1500)
    for before, after, target, meta in zip(raw, cinc.signal, cinc.target, cinc.meta):
        n = 1 + (before.shape[-1] - 3000) // 1500
        assert after.shape == (n, 1, 3000) and target.shape == (n,) and meta["n_segments"] == n
        np.testing.assert_array_equal(after[2], before[:, 3000:6000])
        np.testing.assert_array_equal(meta["segment_starts"], np.arange(n) * 1500)
    assert cinc.target[1][0] == "A"


def test_split_short_record_raises_or_pads(cinc):
    with pytest.raises(RecordError, match=r"A00001.*9000 samples.*length=20000"):
        cinc.split_signals(20000)
    cinc.split_signals(20000, pad=True)
    assert all(s.shape == (1, 1, 20000) for s in cinc.signal)
    with pytest.raises(RecordError, match="already split"):
        cinc.split_signals(1000)


def test_random_split_reproducible_with_seed(cinc_dir):
    def windows(seed):
        batch = make_batch(cinc_dir, CINC).load(src=str(cinc_dir / "REFERENCE.csv"), fmt="csv")
        return batch.random_split_signals(1000, 5, seed=seed)

    a, b, c = windows(1), windows(1), windows(2)
    for x, y, z in zip(a.signal, b.signal, c.signal):
        assert x.shape == (5, 1, 1000)
        assert np.array_equal(x, y) and not np.array_equal(x, z)
    assert a.target[0].tolist() == ["N"] * 5


def test_random_split_per_class_counts(cinc):
    cinc.random_split_signals(1000, {"N": 2, "A": 6}, seed=0)
    assert [len(s) for s in cinc.signal] == [2, 6, 6, 6]
    assert [len(t) for t in cinc.target] == [2, 6, 6, 6]


def test_random_split_per_class_needs_known_label(cinc):
    with pytest.raises(LabelError, match="A00004.*'A'"):
        cinc.random_split_signals(1000, {"N": 2})


def test_random_split_uses_pipeline_seed(cinc_dir):
    from ecg.data.dataset import EcgDataset

    dataset = EcgDataset(index=DatasetIndex(CINC))

    def run():
        pipeline = (Pipeline()
                    .load(src=str(cinc_dir), fmt="wfdb")
                    .random_split_signals(1000, 3)) << dataset
        # batchflow seeds the shuffle and each batch's generator from shuffle=<int>
        return pipeline.next_batch(4, shuffle=11).signal

    for x, y in zip(run(), run()):
        assert np.array_equal(x, y)


def test_unstack_segments_become_items(mitdb):
    full = mitdb.annotation[1]["atr"]["sample"].copy()
    mitdb.split_signals(360 * 10)
    out = mitdb.unstack_signals()
    assert len(out) == 12 and out is not mitdb
    assert list(out.indices[:2]) == ["100_0", "100_1"]
    assert out.signal[1].shape == (2, 3600)
    assert out.meta[7]["record"] == "208" and out.meta[7]["segment_start"] == 3600
    np.testing.assert_array_equal(out.signal[7], mitdb.signal[1][1])
    ann = out.annotation[7]["atr"]
    np.testing.assert_array_equal(ann["sample"], full[(full >= 3600) & (full < 7200)] - 3600)


def test_unstack_keeps_targets(cinc):
    cinc.one_hot_labels(["N", "A", "O", "~"]).split_signals(3000)
    out = cinc.unstack_signals()
    assert len(out) == sum(len(s) for s in cinc.signal)
    assert out.target[0].tolist() == [1, 0, 0, 0] and out.classes == ("N", "A", "O", "~")


def test_drop_short_signals(cinc):
    lengths = [s.shape[-1] for s in cinc.signal]
    limit = sorted(lengths)[1]
    out = cinc.drop_short_signals(limit)
    assert len(out) == sum(n >= limit for n in lengths)
    assert all(s.shape[-1] >= limit for s in out.signal)
    assert cinc.drop_short_signals(10) is cinc
    with pytest.raises(RecordError, match="nothing is left"):
        cinc.drop_short_signals(10 ** 6)


def test_pad_and_crop_shift_annotations(mitdb):
    before = mitdb.annotation[0]["atr"]["sample"].copy()
    mitdb.pad_signals(360 * 70, align="right")
    np.testing.assert_array_equal(mitdb.annotation[0]["atr"]["sample"], before + 3600)
    assert mitdb.meta[0]["n_samples"] == 25200
    mitdb.crop_signals(3600, align="right")
    assert mitdb.signal[0].shape == (2, 3600)
    last = mitdb.annotation[0]["atr"]["sample"]
    np.testing.assert_array_equal(last, before[before >= 21600 - 3600] - (21600 - 3600))
    with pytest.raises(RecordError, match="cannot crop"):
        mitdb.crop_signals(4000)


def test_clip(ptbxl):
    ptbxl.clip_signals(-0.5, 0.5)
    assert max(np.abs(s).max() for s in ptbxl.signal) <= 0.5


def test_select_leads(ptbxl, mitdb):
    raw = ptbxl.signal[0].copy()
    ptbxl.select_leads(["V1", "II"])
    np.testing.assert_array_equal(ptbxl.signal[0], raw[[6, 1]])
    assert ptbxl.meta[0]["sig_name"] == ["V1", "II"] and len(ptbxl.meta[0]["units"]) == 2
    with pytest.raises(RecordError, match=r"'100'.*no lead \['V1'\].*MLII"):
        mitdb.select_leads("V1")


def test_find_r_peaks_and_heart_rate(mitdb, fixture_dir):
    from ecg.ops.rpeaks import r_peaks

    mitdb.find_r_peaks(lead="MLII").heart_rate()
    for sig, annotation, meta in zip(mitdb.signal, mitdb.annotation, mitdb.meta):
        np.testing.assert_array_equal(annotation["rpeaks"]["sample"], r_peaks(sig[0], 360))
        assert "atr" in annotation
        assert 40 < meta["heart_rate"] < 120
        assert len(meta["rr_intervals"]) == len(annotation["rpeaks"]["sample"]) - 1
    mitdb.split_signals(3600).find_r_peaks(0).heart_rate()
    assert len(mitdb.annotation[0]["rpeaks"]) == 6 and mitdb.meta[0]["heart_rate"].shape == (6,)


def test_find_r_peaks_missing_lead(ptbxl):
    with pytest.raises(RecordError, match="no lead 'MLII'"):
        ptbxl.find_r_peaks("MLII")
    with pytest.raises(RecordError, match="find_r_peaks first"):
        ptbxl.heart_rate()


def test_beat_signals_around_annotated_beats(mitdb):
    mitdb.beat_signals(before=0.25, after=0.45, ext="atr")
    sig, meta = mitdb.signal[0], mitdb.meta[0]
    assert sig.shape[1:] == (2, 90 + 162) and len(sig) == len(meta["beat_samples"])
    np.testing.assert_array_equal(meta["segment_starts"], meta["beat_samples"] - 90)
    out = mitdb.unstack_signals()
    assert len(out) == sum(len(s) for s in mitdb.signal)


def test_annotation_mask_round_trip(fixture_dir):
    batch = make_batch(fixture_dir / "ludb", ["1", "2"], components=["signal", "meta", "annotation"],
                       ann_ext="ii")
    original = {k: v.copy() for k, v in batch.annotation[0]["ii"].items()}
    batch.annotation_to_mask("ii")
    mask = batch.target[0]
    assert mask.shape == (5000,) and batch.classes == ("background", "p", "N", "t")
    # complete waves of the reference, found by hand: "(", peak, ")" in a row
    sym, smp = original["symbol"], original["sample"]
    waves = [(smp[k], smp[k + 2], "pNt".index(sym[k + 1]) + 1) for k in range(len(sym) - 2)
             if sym[k] == "(" and sym[k + 2] == ")" and sym[k + 1] in "pNt"]
    assert len(waves) >= 15
    for on, off, label in waves:
        assert (mask[on:off + 1] == label).all()
    assert (mask > 0).sum() == sum(off - on + 1 for on, off, _ in waves)
    batch.mask_to_annotation("ii_mask")
    back = batch.annotation[0]["ii_mask"]
    assert back["sample"][back["symbol"] == "("].tolist() == [on for on, _, _ in sorted(waves)]
    assert back["sample"][back["symbol"] == ")"].tolist() == [off for _, off, _ in sorted(waves)]


def test_signal_quality_flags_and_drops(cinc, ptbxl):
    cinc.signal[1][:, :] = 0.0
    cinc.signal_quality()
    assert cinc.meta[0]["quality"]["ok"].all() and not cinc.meta[1]["quality"]["ok"].any()
    assert cinc.meta[1]["quality"]["flat"][0] == 1.0
    kept = cinc.signal_quality(drop=True)
    assert len(kept) == 3 and "A00004" not in list(kept.indices)
    ptbxl.signal_quality()
    assert ptbxl.meta[0]["quality"]["noise"].shape == (12,)
