"""ecg.data.datasets and the pure kernels they use (ecg.ops.beats, ecg.ops.masks).

Labels and masks are checked against ``wfdb.rdann`` and the databases' CSV files read
directly, on the fixture records and, through ``ecg download`` from the shared mirror,
on the full databases. No test reads a batch: ``EcgBatch.load`` is tested elsewhere.
"""
import csv
import doctest
import zipfile
from collections import Counter

import numpy as np
import pytest
import wfdb

import ecg.data.datasets.base
import ecg.ops.beats
import ecg.ops.masks
from ecg.cli import main
from ecg.data.datasets import DATASETS, check_disjoint, cinc2017, get_dataset, ludb, mitdb, ptbxl, qtdb
from ecg.data.download import sha256sum
from ecg.errors import EcgError, LabelError, RecordError
from ecg.ops.beats import AAMI_LABELS, aami_classes, beat_windows
from ecg.ops.masks import annotations_to_mask, mask_to_intervals, wave_intervals

LEADS = ludb.LEADS
# de Chazal et al. 2004, Table I: AAMI beat counts of the inter-patient split.
DE_CHAZAL = {"DS1": {"N": 45866, "S": 944, "V": 3788, "F": 415, "Q": 8},
             "DS2": {"N": 44259, "S": 1837, "V": 3221, "F": 388, "Q": 7}}


def assert_partition(splits, records, groups=None):
    """Every record in exactly one split, and (with ``groups``) every group in one split."""
    check_disjoint(splits, groups)
    assert sorted(r for part in splits.values() for r in part) == sorted(records)


# ---------------------------------------------------------------- ecg.ops and docstrings

@pytest.mark.parametrize("module", [ecg.ops.beats, ecg.ops.masks, ecg.data.datasets.base])
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_aami_classes_follow_the_table():
    symbols = list(AAMI_LABELS) + ["+", "~", "!", "|", "x", '"', "[", "]"]
    expected = list(AAMI_LABELS.values()) + [""] * 8
    assert aami_classes(symbols).tolist() == expected


def test_beat_windows_match_slicing_on_a_real_record(fixture_dir):
    record = wfdb.rdrecord(str(fixture_dir / "mitdb" / "208"), sampto=20000)
    signal = record.p_signal.T
    samples = wfdb.rdann(str(fixture_dir / "mitdb" / "208"), "atr", sampto=20000).sample
    before, after = 90, 144
    windows, kept = beat_windows(signal, samples, before, after)
    inside = [i for i, s in enumerate(samples) if s >= before and s + after <= signal.shape[1]]
    assert kept.tolist() == inside and len(inside) < len(samples)
    assert windows.shape == (len(inside), 2, before + after)
    for row, i in enumerate(kept):
        np.testing.assert_array_equal(windows[row], signal[:, samples[i] - before:samples[i] + after])


@pytest.mark.parametrize("before, after", [(-1, 5), (0, 0)])
def test_beat_windows_refuse_bad_lengths(before, after):
    with pytest.raises(ValueError, match="before"):
        beat_windows(np.zeros((1, 10)), [5], before, after)


def test_beat_windows_on_a_short_signal_keep_nothing():
    windows, kept = beat_windows(np.zeros((2, 3)), [1], 2, 2)
    assert windows.shape == (0, 2, 4) and kept.size == 0


def _ludb_annotations(fixture_dir):
    for record in range(1, 11):
        for lead in LEADS:
            yield record, lead, wfdb.rdann(str(fixture_dir / "ludb" / str(record)), lead)


def test_masks_round_trip_on_real_ludb_annotations(fixture_dir):
    for record, lead, ann in _ludb_annotations(fixture_dir):
        onsets, _, offsets, labels = wave_intervals(ann.sample, ann.symbol)
        mask = annotations_to_mask(ann.sample, ann.symbol, 5000)
        intervals = mask_to_intervals(mask, n_classes=3)
        for k in (1, 2, 3):
            expected = np.stack([onsets[labels == k], offsets[labels == k]], axis=1)
            np.testing.assert_array_equal(intervals[k], expected, err_msg=f"ludb {record}.{lead}")


def test_masks_count_the_complete_triplets(fixture_dir):
    for record, lead, ann in _ludb_annotations(fixture_dir):
        text = "".join(ann.symbol)
        mask = annotations_to_mask(ann.sample, ann.symbol, 5000)
        assert set(np.unique(mask)) <= {0, 1, 2, 3}
        for k, peak in enumerate("pNt", start=1):
            assert len(mask_to_intervals(mask, 3)[k]) == text.count(f"({peak})"), f"{record}.{lead}"
        first = ann.sample[text.index("(N)")]  # one character per symbol
        assert mask[first] == 2 and (first == 0 or mask[first - 1] != 2)


def test_incomplete_waves_stay_background():
    mask = annotations_to_mask([0, 2, 4, 6, 8, 9], ["N", ")", "(", "t", "t", ")"], 12)
    assert mask.tolist() == [0, 0, 0, 0, 3, 3, 3, 3, 3, 3, 0, 0]


# ---------------------------------------------------------------- CinC 2017

def _reference(path):
    with open(path, newline="") as f:
        return dict(csv.reader(f))


def test_cinc2017_labels_match_reference_csv(cinc_dir):
    definition = cinc2017.load(cinc_dir)
    assert definition.labels["label"].to_dict() == _reference(cinc_dir / "REFERENCE.csv")
    assert definition.classes == ("N", "A", "O", "~") and definition.fs == 300
    assert sorted(definition.dataset.indices) == sorted(definition.labels.index)


def test_cinc2017_split_is_stratified_seeded_and_disjoint(cinc_dir):
    definition = cinc2017.load(cinc_dir, seed=3)
    assert_partition(definition.splits, definition.labels.index)
    for part, size in {"train": 8, "validation": 1, "test": 1}.items():
        counts = definition.labels.loc[definition.splits[part], "label"].value_counts()
        assert counts.to_dict() == dict.fromkeys("NAO~", size)
    assert cinc2017.load(cinc_dir, seed=3).splits == definition.splits
    assert cinc2017.load(cinc_dir, seed=4).splits != definition.splits
    assert len(definition.subset("test")) == 4


def test_cinc2017_unknown_label_names_the_record(tmp_path):
    (tmp_path / "REFERENCE.csv").write_text("A00001,N\nA00002,X\n")
    with pytest.raises(LabelError, match="'A00002' has label 'X'"):
        cinc2017.read_reference(tmp_path / "REFERENCE.csv")


def test_missing_record_is_named(tmp_path, cinc_dir):
    (tmp_path / "REFERENCE.csv").write_text("A00001,N\n")
    with pytest.raises(RecordError, match="A00001.hea"):
        cinc2017.load(tmp_path)


# ---------------------------------------------------------------- MIT-BIH

def test_mitdb_beats_match_rdann(fixture_dir):
    root = fixture_dir / "mitdb"
    definition = mitdb.load(root)
    beats = definition.tables["beats"]
    for record in ("100", "201", "208"):
        ann = wfdb.rdann(str(root / record), "atr")
        symbols = [s for s in ann.symbol if s in AAMI_LABELS]
        assert beats.loc[beats.record == record, "symbol"].tolist() == symbols
    counts = definition.labels.loc["208"]
    assert (counts["V"], counts["F"]) == (Counter(wfdb.rdann(str(root / "208"), "atr").symbol)["V"], 373)
    assert "AFIB" in definition.labels.loc["201", "rhythms"]
    assert definition.splits == {"DS1": ["201", "208"], "DS2": ["100"]}


def test_mitdb_rhythm_episodes_tile_the_record(fixture_dir):
    rhythms = mitdb.load(fixture_dir / "mitdb").tables["rhythms"]
    for _, episodes in rhythms.groupby("record"):
        assert (episodes["onset"].to_numpy()[1:] == episodes["offset"].to_numpy()[:-1]).all()
        assert episodes["offset"].iloc[-1] == 650000


def test_mitdb_inter_patient_split_is_standard():
    assert len(mitdb.DS1) == len(mitdb.DS2) == 22
    assert not set(mitdb.DS1) & set(mitdb.DS2)
    assert not (set(mitdb.DS1) | set(mitdb.DS2)) & set(mitdb.PACED)


def test_mitdb_beat_windows_of_a_record(fixture_dir):
    windows, aami, samples = mitdb.read_beat_windows(fixture_dir / "mitdb" / "100", 90, 144)
    assert windows.shape == (len(aami), 2, 234) and windows.dtype == np.float32
    # 100.atr has 2239 N beats; its first (sample 77) and last are too close to the ends
    assert Counter(aami.tolist()) == {"N": 2237, "S": 33, "V": 1}
    assert samples.min() >= 90 and samples.max() + 144 <= 650000


# ---------------------------------------------------------------- LUDB

def test_ludb_masks_and_diagnoses(fixture_dir):
    root = fixture_dir / "ludb"
    definition = ludb.load(root)
    assert len(definition.dataset) == 10 and definition.classes == ("background", "P", "QRS", "T")
    masks = ludb.read_masks(root / "1")
    assert masks.shape == (12, 5000) and masks.dtype == np.int8
    ann = wfdb.rdann(str(root / "1"), "v1")
    np.testing.assert_array_equal(masks[LEADS.index("v1")], annotations_to_mask(ann.sample, ann.symbol, 5000))
    row = definition.labels.loc["1"]
    assert (row["Sex"], row["Age"], row["rhythm"]) == ("F", 51, "Sinus bradycardia")
    assert_partition(definition.splits, definition.dataset.indices)


def test_ludb_waves_table(fixture_dir):
    waves = ludb.read_waves(fixture_dir / "ludb" / "1")
    assert set(waves["lead"]) == set(LEADS) and set(waves["wave"]) == {"P", "QRS", "T"}
    assert ((waves.onset <= waves.peak) & (waves.peak <= waves.offset)).all()


# ---------------------------------------------------------------- QT Database

def test_qtdb_masks(fixture_dir):
    path = fixture_dir / "qtdb" / "sel100"
    q1c = qtdb.read_mask(path, "q1c")
    assert q1c.shape == (1, 225000)
    counts = {k: len(v) for k, v in mask_to_intervals(q1c[0], 3).items()}
    assert counts == {1: 30, 2: 30, 3: 0}  # q1c annotates no T onset
    pu = qtdb.read_mask(path, "pu")
    for lead in (0, 1):  # pu holds both leads; pu0 and pu1 hold one each
        ann = wfdb.rdann(str(path), f"pu{lead}")
        np.testing.assert_array_equal(pu[lead], annotations_to_mask(ann.sample, ann.symbol, 225000))
    with pytest.raises(EcgError, match="annotator"):
        qtdb.read_mask(path, "man")


def test_qtdb_definition(fixture_dir):
    definition = qtdb.load(fixture_dir / "qtdb")
    assert definition.dataset.indices.tolist() == ["sel100"] and definition.fs == 250
    ann = wfdb.rdann(str(fixture_dir / "qtdb" / "sel100"), "q1c")
    span = definition.labels.loc["sel100", ["q1c_onset", "q1c_offset"]].tolist()
    assert span == [ann.sample[0], ann.sample[-1]]
    assert_partition(definition.splits, ["sel100"])
    with pytest.raises(EcgError, match="no records"):
        definition.subset("test")


# ---------------------------------------------------------------- PTB-XL

def test_ptbxl_superclasses_and_folds(fixture_dir):
    root = fixture_dir / "ptbxl"
    definition = ptbxl.load(root, sampling_rate=500)
    labels = definition.labels
    assert labels.index[0] == "00001_hr" and definition.fs == 500
    assert labels.loc["00001_hr", "superclasses"] == ("NORM",)
    with open(root / "ptbxl_database.csv", newline="") as f:
        folds = {f"{int(row['ecg_id']):05d}_hr": int(row["strat_fold"]) for row in csv.DictReader(f)}
    assert labels["strat_fold"].to_dict() == folds
    assert (labels[list(ptbxl.SUPERCLASSES)].sum(axis=1) == labels["superclasses"].str.len()).all()
    assert set(labels.loc[definition.splits["test"], "strat_fold"]) <= {10}
    assert set(labels.loc[definition.splits["validation"], "strat_fold"]) <= {9}
    assert_partition(definition.splits, labels.index, labels["patient_id"])


def test_ptbxl_nine_one_scheme(fixture_dir):
    definition = ptbxl.load(fixture_dir / "ptbxl", scheme="9-1")
    assert set(definition.splits) == {"train", "test"}
    assert set(definition.labels.loc[definition.splits["train"], "strat_fold"]) <= set(range(1, 10))
    with pytest.raises(EcgError, match="scheme"):
        ptbxl.load(fixture_dir / "ptbxl", scheme="8-2")


def test_patient_leak_is_detected(fixture_dir):
    labels = ptbxl.load(fixture_dir / "ptbxl").labels
    patient = labels["patient_id"].copy()
    a, b = labels.index[:2]
    patient[b] = patient[a]
    with pytest.raises(EcgError, match="patient"):
        check_disjoint({"train": [a], "test": [b]}, patient)


# ---------------------------------------------------------------- full databases, via `ecg download`

@pytest.fixture(scope="module")
def downloaded(tmp_path_factory, mirror_dir):
    """``ecg download <name> --mirror ../shared/data/mirror``, once per database."""
    dest = tmp_path_factory.mktemp("downloads")
    roots = {}

    def get(name, mirror=mirror_dir):
        if name not in roots:
            assert main(["download", name, "--dest", str(dest), "--mirror", str(mirror), "-q"]) == 0
            roots[name] = get_dataset(name, dest=dest, mirror=mirror, progress=False).root
        return roots[name]
    return get


def test_full_mitdb_counts(downloaded):
    root = downloaded("mitdb")
    beats, _ = mitdb.read_annotations(root, mitdb.list_records(root))
    assert beats["record"].nunique() == 48 and len(beats) == 109494
    assert beats["aami"].value_counts().to_dict() == {"N": 90631, "Q": 8043, "V": 7236, "S": 2781, "F": 803}
    definition = mitdb.load(root)
    assert len(definition.dataset) == 44
    for part, counts in DE_CHAZAL.items():
        assert definition.labels.loc[definition.splits[part], list(counts)].sum().to_dict() == counts
    assert_partition(definition.splits, definition.dataset.indices)


def test_full_cinc2017_counts(downloaded, mirror_dir):
    definition = get_dataset("cinc2017", downloaded("cinc2017"))
    with zipfile.ZipFile(mirror_dir / "challenge-2017/1.0.0/training2017.zip") as zf:
        reference = dict(row.split(",") for row in zf.read("training2017/REFERENCE.csv").decode().split())
    assert Counter(reference.values()) == {"N": 4458, "O": 2168, "A": 651, "~": 251}
    assert definition.labels["label"].to_dict() == reference and len(definition.dataset) == 7528
    assert_partition(definition.splits, definition.labels.index)


def test_full_ludb(downloaded):
    definition = get_dataset("ludb", downloaded("ludb"))
    assert len(definition.dataset) == 200 and len(definition.labels) == 200
    assert definition.labels["rhythm"].value_counts()["Sinus rhythm"] == 143
    assert_partition(definition.splits, definition.dataset.indices)


def test_full_ptbxl_subset(downloaded):
    definition = get_dataset("ptbxl", downloaded("ptbxl"))
    labels = definition.labels
    assert len(definition.dataset) == 500
    assert labels[list(ptbxl.SUPERCLASSES)].sum().to_dict() == {
        "NORM": 297, "MI": 73, "STTC": 96, "CD": 78, "HYP": 40}
    assert [len(definition.splits[p]) for p in ("train", "validation", "test")] == [353, 81, 66]
    assert_partition(definition.splits, labels.index, labels["patient_id"])


def test_qtdb_from_a_built_mirror(downloaded, fixture_dir, tmp_path):
    mirror = tmp_path / "mirror"
    archive = mirror / "qtdb" / "1.0.0" / "qt-database-1.0.0.zip"
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w") as zf:
        for file in sorted((fixture_dir / "qtdb").glob("sel100.*")):
            zf.write(file, f"qt-database-1.0.0/{file.name}")
    (mirror / "SHA256SUMS.txt").write_text(f"{sha256sum(archive)}  ./qtdb/1.0.0/qt-database-1.0.0.zip\n")
    definition = get_dataset("qtdb", downloaded("qtdb", mirror))
    assert definition.dataset.indices.tolist() == ["sel100"]


def test_registry_names_match_the_downloads():
    from ecg.data.download import available

    assert sorted(DATASETS) == available()
    with pytest.raises(EcgError, match="unknown dataset"):
        get_dataset("nope")
