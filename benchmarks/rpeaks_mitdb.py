"""R-peak detector on the 48 MIT-BIH Arrhythmia records: sensitivity and positive predictivity.

Usage::

    python benchmarks/rpeaks_mitdb.py [--mirror ../shared/data/mirror] [--records 100 101]

Unzips ``mitdb/1.0.0/mit-bih-arrhythmia-database-1.0.0.zip`` from the mirror into the
git-ignored ``benchmarks/results/cache/``, runs :func:`ecg.ops.rpeaks.r_peaks` on lead
MLII of every record (the first lead where there is none: V5 in 102 and 104; in 114 the
leads are swapped and MLII is the second), and compares the detections with the beat annotations
(AAMI beat symbols only) by :func:`wfdb.processing.compare_annotations` with a 150 ms
tolerance. As in ANSI/AAMI EC57, ventricular flutter/fibrillation episodes (rhythm
``(VFL`` in record 207), where the reference marks no beats, are left out of the
comparison; the table reports how many detections fell there. Prints a per-record table
and totals, and writes ``benchmarks/results/rpeaks_mitdb.json``.
"""
import argparse
import json
import time
import zipfile
from pathlib import Path

import numpy as np
import wfdb
from wfdb import processing

from ecg.ops.rpeaks import r_peaks

HERE = Path(__file__).resolve().parent
ZIP = "mitdb/1.0.0/mit-bih-arrhythmia-database-1.0.0.zip"
BEAT_SYMBOLS = ["N", "L", "R", "e", "j", "A", "a", "J", "S", "V", "E", "F", "/", "f", "Q"]
EXCLUDED_RHYTHMS = ("(VFL", "(VF")
TOLERANCE = 0.150
LEAD = "MLII"


def unpack(mirror, cache):
    """Folder holding the MIT-BIH records, unzipped once into ``cache``."""
    folder = next(cache.glob("**/RECORDS"), None)
    if folder is None:
        with zipfile.ZipFile(mirror / ZIP) as archive:
            archive.extractall(cache)
        folder = next(cache.glob("**/RECORDS"))
    return folder.parent


def excluded_spans(ann, n_samples):
    """``(start, stop)`` sample spans of ventricular flutter/fibrillation episodes."""
    spans, start = [], None
    for sample, symbol, aux in zip(ann.sample, ann.symbol, ann.aux_note):
        if symbol != "+":
            continue
        rhythm = aux.rstrip("\x00")
        if start is None and rhythm in EXCLUDED_RHYTHMS:
            start = sample
        elif start is not None and rhythm not in EXCLUDED_RHYTHMS:
            spans.append((start, sample))
            start = None
    if start is not None:
        spans.append((start, n_samples))
    return spans


def outside(samples, spans):
    keep = np.ones(len(samples), dtype=bool)
    for start, stop in spans:
        keep &= (samples < start) | (samples >= stop)
    return samples[keep]


def evaluate(path):
    header = wfdb.rdheader(str(path))
    lead = header.sig_name.index(LEAD) if LEAD in header.sig_name else 0
    record = wfdb.rdrecord(str(path), channels=[lead])
    ann = wfdb.rdann(str(path), "atr")
    fs = record.fs
    started = time.perf_counter()
    detected = r_peaks(record.p_signal[:, 0], fs)
    seconds = time.perf_counter() - started
    spans = excluded_spans(ann, record.sig_len)
    reference = outside(ann.sample[np.isin(ann.symbol, BEAT_SYMBOLS)], spans)
    kept = outside(detected, spans)
    cmp = processing.compare_annotations(reference, kept, int(TOLERANCE * fs))
    return {"record": path.name, "lead": header.sig_name[lead], "beats": len(reference), "detected": len(kept),
            "tp": int(cmp.tp), "fn": int(cmp.fn), "fp": int(cmp.fp),
            "excluded_detections": int(len(detected) - len(kept)),
            "se": cmp.tp / max(cmp.tp + cmp.fn, 1), "ppv": cmp.tp / max(cmp.tp + cmp.fp, 1),
            "seconds": seconds}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=HERE.parent.parent / "shared" / "data" / "mirror")
    parser.add_argument("--cache", type=Path, default=HERE / "results" / "cache")
    parser.add_argument("--records", nargs="*", help="record names (default: all 48)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "rpeaks_mitdb.json")
    args = parser.parse_args(argv)

    folder = unpack(args.mirror, args.cache)
    names = args.records or (folder / "RECORDS").read_text().split()
    rows = []
    print(f"{'record':>6} {'beats':>6} {'TP':>6} {'FN':>5} {'FP':>5} {'Se %':>7} {'+P %':>7} {'s':>5}")
    for name in names:
        row = evaluate(folder / name)
        rows.append(row)
        print(f"{row['record']:>6} {row['beats']:>6} {row['tp']:>6} {row['fn']:>5} {row['fp']:>5} "
              f"{100 * row['se']:7.2f} {100 * row['ppv']:7.2f} {row['seconds']:5.2f}", flush=True)
    tp, fn, fp = (sum(r[key] for r in rows) for key in ("tp", "fn", "fp"))
    totals = {"records": len(rows), "beats": tp + fn, "tp": tp, "fn": fn, "fp": fp,
              "se": tp / (tp + fn), "ppv": tp / (tp + fp),
              "excluded_detections": sum(r["excluded_detections"] for r in rows),
              "seconds": sum(r["seconds"] for r in rows)}
    print(f"{'total':>6} {totals['beats']:>6} {tp:>6} {fn:>5} {fp:>5} {100 * totals['se']:7.2f} "
          f"{100 * totals['ppv']:7.2f} {totals['seconds']:5.1f}")
    print(f"detections inside excluded VF/VFL episodes: {totals['excluded_detections']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"tolerance_s": TOLERANCE, "lead": LEAD, "totals": totals,
                                    "records": rows}, indent=1))
    return totals


if __name__ == "__main__":
    main()
