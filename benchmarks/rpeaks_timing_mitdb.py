"""R-peak timing error per AAMI class on the 44 non-paced MIT-BIH records, before and after refinement.

Usage::

    python benchmarks/rpeaks_timing_mitdb.py [--mirror ../shared/data/mirror] [--window 0.1]

Runs :func:`ecg.ops.rpeaks.r_peaks` on lead MLII of DS1 + DS2 (the first lead where MLII
is second, 114, is handled as in ``rpeaks_mitdb.py``) as published and with the timing
refinement of step 10 (``PanTompkinsConf(refine_window=...)``), matches the detections
to the ``.atr`` beats within 150 ms (:func:`ecg.metrics.match_positions`), and prints
per AAMI class the median signed and absolute error, the 95th percentile of the absolute
error and the share of beats more than 25 ms off. Writes
``benchmarks/results/rpeaks_timing_mitdb.json``.
"""
import argparse
import json
from pathlib import Path

import numpy as np
import wfdb

from ecg.data.datasets.mitdb import DS1, DS2
from ecg.metrics import match_positions
from ecg.ops.beats import AAMI_CLASSES, aami_classes
from ecg.ops.rpeaks import PanTompkinsConf, r_peaks
from ecg.tasks.beats import timing_table

HERE = Path(__file__).resolve().parent


def errors(path, conf):
    """Signed errors in ms of the matched detections, their AAMI classes, and the TP/FN/FP counts."""
    header = wfdb.rdheader(str(path))
    lead = header.sig_name.index("MLII") if "MLII" in header.sig_name else 0
    record, ann = wfdb.rdrecord(str(path), channels=[lead]), wfdb.rdann(str(path), "atr")
    labels = aami_classes(ann.symbol)
    reference, labels = ann.sample[labels != ""], labels[labels != ""]
    peaks = r_peaks(record.p_signal[:, 0], record.fs, conf)
    ref, det = match_positions(reference, peaks, 0.15 * record.fs)
    return ((peaks[det] - reference[ref]) / record.fs * 1000, labels[ref],
            (len(ref), len(reference) - len(ref), len(peaks) - len(det)))


def main(argv=None):
    from rpeaks_mitdb import unpack

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=HERE.parent.parent / "shared" / "data" / "mirror")
    parser.add_argument("--cache", type=Path, default=HERE / "results" / "cache")
    parser.add_argument("--window", type=float, default=0.1, help="refine_window in seconds")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "rpeaks_timing_mitdb.json")
    args = parser.parse_args(argv)

    folder = unpack(args.mirror, args.cache)
    results = {}
    for name, conf in (("published", None), (f"refined {args.window:g} s", PanTompkinsConf(refine_window=args.window))):
        parts = [errors(folder / record, conf) for record in DS1 + DS2]
        tp, fn, fp = (sum(p[2][k] for p in parts) for k in range(3))
        table = timing_table(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                             AAMI_CLASSES)
        results[name] = {"tp": tp, "fn": fn, "fp": fp, "classes": table}
        print(f"\n{name}: TP {tp} FN {fn} FP {fp} (Se {100 * tp / (tp + fn):.2f} %, +P {100 * tp / (tp + fp):.2f} %)")
        print(f"{'class':>5} {'beats':>6} {'median':>7} {'med |e|':>7} {'p95 |e|':>7} {'> 25 ms':>7}")
        for c, row in table.items():
            print(f"{c:>5} {row['n']:6d} {row['median']:7.1f} {row['median_abs']:7.1f} {row['p95_abs']:7.1f} "
                  f"{100 * row['over_25ms']:6.1f}%")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"records": list(DS1 + DS2), "lead": "MLII", "tolerance_s": 0.15,
                                    "results": results}, indent=1))
    return results


if __name__ == "__main__":
    main()
