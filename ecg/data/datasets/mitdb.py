"""MIT-BIH Arrhythmia Database: 48 half-hour two-lead records at 360 Hz, beat and rhythm labels.

Beat labels (``.atr``, 109,494 in all) are mapped to the AAMI classes N/S/V/F/Q
(table in :mod:`ecg.ops.beats`). Rhythm labels are ``+`` annotations whose aux note
names the rhythm that starts there (``(N``, ``(AFIB``, ``(VT``, ...).

Splits follow the inter-patient scheme of de Chazal et al. (IEEE TBME 51(7), 2004):
DS1 for training, DS2 for testing, 22 records each; no record is in both. Each record is
a different subject except 201 and 202 (the same man), which the published split puts in
DS1 and DS2: kept as published so results compare with the literature.
The paced records 102, 104, 107 and 217 are left out, as AAMI EC57 recommends.

Moody GB, Mark RG. The impact of the MIT-BIH Arrhythmia Database. IEEE EMB 20(3), 2001.
"""
from pathlib import Path

import numpy as np
import pandas as pd
import wfdb

from ecg.data.datasets.base import EcgDatasetDef, check_disjoint, make_dataset, read_annotation
from ecg.errors import RecordError
from ecg.ops.beats import AAMI_CLASSES, aami_classes, beat_windows

NAME = "mitdb"
FS = 360.0
PACED = ("102", "104", "107", "217")
DS1 = ("101", "106", "108", "109", "112", "114", "115", "116", "118", "119", "122",
       "124", "201", "203", "205", "207", "208", "209", "215", "220", "223", "230")
DS2 = ("100", "103", "105", "111", "113", "117", "121", "123", "200", "202", "210",
       "212", "213", "214", "219", "221", "222", "228", "231", "232", "233", "234")
LOAD_KWARGS = {"fmt": "wfdb", "components": ["signal", "meta", "annotation"], "ann_ext": "atr"}


def list_records(root):
    """Return the record names under ``root``: its ``RECORDS`` file, else its ``.hea`` files."""
    root = Path(root)
    if (root / "RECORDS").is_file():
        return (root / "RECORDS").read_text().split()
    return sorted(p.stem for p in root.glob("*.hea"))


def read_annotations(root, records):
    """Read the ``.atr`` beat and rhythm labels of ``records`` (no signal is read).

    Parameters
    ----------
    root : str or Path
        Folder of the database.
    records : sequence of str
        Record names.

    Returns
    -------
    beats : pandas.DataFrame
        One row per beat label: ``record``, ``sample`` (samples at 360 Hz), ``symbol``
        (WFDB label) and ``aami`` (N/S/V/F/Q).
    rhythms : pandas.DataFrame
        One row per rhythm episode: ``record``, ``rhythm`` (e.g. ``"AFIB"``), ``onset``
        and ``offset`` (samples; the offset is the next change or the record's end, excluded).
    """
    beats, rhythms = [], []
    for record in records:
        path = str(Path(root) / record)
        try:
            n_samples = wfdb.rdheader(path).sig_len
            ann = read_annotation(path, "atr", "mitdb")
        except (OSError, ValueError, RecordError) as exc:
            raise RecordError(path, f"cannot read its .atr/.hea ({exc}); re-download with "
                                    f"'ecg download mitdb --force'") from exc
        symbols = np.asarray(ann.symbol, dtype=str)
        aami = aami_classes(symbols)
        is_beat = aami != ""
        beats.append(pd.DataFrame({"record": record, "sample": ann.sample[is_beat],
                                   "symbol": symbols[is_beat], "aami": aami[is_beat]}))
        change = np.flatnonzero(symbols == "+")
        notes = np.array([ann.aux_note[i].strip("\x00 ").lstrip("(") for i in change], dtype=str)
        onsets = ann.sample[change]
        rhythms.append(pd.DataFrame({"record": record, "rhythm": notes, "onset": onsets,
                                     "offset": np.append(onsets[1:], n_samples)}))
    return (pd.concat(beats, ignore_index=True), pd.concat(rhythms, ignore_index=True))


def record_labels(beats, rhythms):
    """Summarise beat and rhythm tables per record.

    Returns
    -------
    pandas.DataFrame
        Indexed by record: the number of beats of each AAMI class (``N`` ... ``Q``),
        ``n_beats``, ``rhythms`` (sorted tuple of the rhythms present) and ``split``
        (``"DS1"``, ``"DS2"`` or ``"paced"``).
    """
    counts = pd.crosstab(beats["record"], beats["aami"]).reindex(columns=list(AAMI_CLASSES), fill_value=0)
    counts["n_beats"] = counts.sum(axis=1)
    counts["rhythms"] = rhythms.groupby("record")["rhythm"].agg(lambda r: tuple(sorted(set(r))))
    counts["rhythms"] = counts["rhythms"].apply(lambda r: r if isinstance(r, tuple) else ())
    split = {**{r: "DS1" for r in DS1}, **{r: "DS2" for r in DS2}, **{r: "paced" for r in PACED}}
    counts["split"] = counts.index.map(split)
    counts.columns.name = None
    return counts


def read_beat_windows(path, before, after, channels=None):
    """Read one record and cut a window around each of its beats.

    Parameters
    ----------
    path : str or Path
        Record path without extension (e.g. ``<root>/208``).
    before, after : int
        Window samples before and after each beat label (at 360 Hz).
    channels : sequence of int, optional
        Leads to read (default: all).

    Returns
    -------
    windows : numpy.ndarray of float32, shape (n_beats, n_leads, before + after)
        In mV.
    aami : numpy.ndarray of str, shape (n_beats,)
        AAMI class of each kept beat.
    samples : numpy.ndarray of int64, shape (n_beats,)
        Beat positions in samples; beats too close to the ends are dropped.
    """
    record = wfdb.rdrecord(str(path), channels=channels)
    ann = read_annotation(str(path), "atr", "mitdb")
    aami = aami_classes(ann.symbol)
    is_beat = aami != ""
    samples = ann.sample[is_beat]
    windows, kept = beat_windows(record.p_signal.T.astype(np.float32), samples, before, after)
    return windows, aami[is_beat][kept], samples[kept]


def load(root, exclude_paced=True):
    """Return the :class:`EcgDatasetDef` of MIT-BIH under ``root``.

    Parameters
    ----------
    root : str or Path
        Folder with the ``.hea``/``.dat``/``.atr`` files (``mit-bih-arrhythmia-database-1.0.0``).
    exclude_paced : bool
        Leave the paced records 102, 104, 107, 217 out of the dataset (they are in no split).

    Returns
    -------
    EcgDatasetDef
        ``labels`` as :func:`record_labels`, ``classes`` the AAMI classes, ``splits``
        ``DS1``/``DS2`` (records of each that are present), ``tables`` ``beats`` and ``rhythms``.
    """
    root = Path(root)
    records = [r for r in list_records(root) if not (exclude_paced and r in PACED)]
    dataset = make_dataset([root / f"{r}.hea" for r in records])
    beats, rhythms = read_annotations(root, dataset.indices)
    labels = record_labels(beats, rhythms)
    present = set(dataset.indices)
    splits = {"DS1": [r for r in DS1 if r in present], "DS2": [r for r in DS2 if r in present]}
    check_disjoint(splits)
    return EcgDatasetDef(NAME, root, dataset, dict(LOAD_KWARGS), labels, AAMI_CLASSES, splits, FS,
                         tables={"beats": beats, "rhythms": rhythms})
