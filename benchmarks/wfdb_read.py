"""Read time of ``ecg.io.read_record`` against ``wfdb.rdrecord``, per WFDB format, short and 30-minute records.

Usage::

    python benchmarks/wfdb_read.py [--data ../shared/data] [--repeat 15]

Records: MIT-BIH 100, 201 and 208 as published (format 212, 2 leads, 30 min at 360 Hz);
MIT-BIH 100 written in each format ecg decodes (16, 61, 80, 160, 212, 24, 32; its
samples scaled to the format's width), whole (650,000 frames) and its first 10 s; the
real short records of CinC 2017 (``.mat``), PTB-XL (12 leads) and LUDB; and records of
wfdb-python's sample data in the formats ecg hands to wfdb's decoder (8, 310, 311,
FLAC), with skew, several samples per frame and multi-segment layouts. Each read is
timed ``--repeat`` times, ecg and wfdb in turn (the medians are reported; both read the
same files from the page cache, one read first to warm it). ecg returns float32 with the checks
of :func:`ecg.io.read_record`; wfdb returns float64. Every ecg result is checked equal
to wfdb's cast to float32 before it is timed. Prints a table and writes
``benchmarks/results/wfdb_read.json``.
"""
import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import wfdb

from ecg.io import read_record
from ecg.io.wfdb_fast import encode

HERE = Path(__file__).resolve().parent
BITS = {"16": 16, "61": 16, "80": 8, "160": 16, "212": 12, "24": 24, "32": 32}


def write_formats(source, folder):
    """MIT-BIH 100 in each decoded format, whole and its first 10 s; return ``[(label, path)]``."""
    folder.mkdir(parents=True, exist_ok=True)
    digital = wfdb.rdrecord(str(source), physical=False).d_signal.astype(np.int64) - 1024   # 11-bit
    out = []
    for fmt, bits in BITS.items():
        scaled = digital << (bits - 11) if bits >= 11 else digital >> (11 - bits)
        scaled = np.clip(scaled, -2 ** (bits - 1) + 1, 2 ** (bits - 1) - 1)
        gain = 200 * 2.0 ** (bits - 11)
        for length, label in ((3600, "10 s"), (len(scaled), "30 min")):
            name = f"mitdb100_f{fmt}_{length}"
            (folder / f"{name}.dat").write_bytes(encode(scaled[:length], fmt))
            (folder / f"{name}.hea").write_text(
                f"{name} 2 360 {length}\n" + "".join(f"{name}.dat {fmt} {gain:g}/mV {bits} 0 0 0 0 {lead}\n"
                                                     for lead in ("MLII", "V5")))
            out.append((f"fmt {fmt}", label, folder / name))
    return out


def records(data, cache):
    fixture, sample = data / "fixture", data / "wfdb-sample-data"
    rows = [("fmt 212 (MIT-BIH)", "30 min", fixture / f"mitdb/{r}") for r in ("100", "201", "208")]
    rows += write_formats(fixture / "mitdb/100", cache)
    rows += [("fmt 16 .mat (CinC 2017)", "30 s", fixture / "cinc2017/A00001"),
             ("fmt 16, 12 leads (PTB-XL)", "10 s", fixture / "ptbxl/records500/00000/00001_hr"),
             ("fmt 16, 12 leads (LUDB)", "10 s", fixture / "ludb/1"),
             ("fmt 8..32, 10 files", "2.5 s", sample / "binformats"),
             ("fmt 310", "4 s", sample / "310derive"), ("fmt 311", "4 s", sample / "311derive"),
             ("FLAC 508/516/524", "2.5 s", sample / "flacformats"),
             ("FLAC 516 x4/x2, mixed", "230 s", sample / "mixedsignals"),
             ("fmt 16, skew + 2/frame", "8 s", sample / "test01_00s_skewframe"),
             ("fmt 212, skew", "30 min", sample / "100skew"),
             ("multi-segment, fixed", "15 min", sample / "multi-segment/fixed1/v102s"),
             ("multi-segment, variable", "72 min", sample / "multi-segment/s25047/s25047-2704-05-04-10-44")]
    return rows


def median_ms(reads, repeat):
    """Median time in ms of each of ``reads``, timed in turn (so both share the machine's load)."""
    for read in reads:
        read()
    times = [[] for _ in reads]
    for _ in range(repeat):
        for read, spent in zip(reads, times):
            start = time.perf_counter()
            read()
            spent.append(time.perf_counter() - start)
    return [statistics.median(spent) * 1000 for spent in times]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data"))
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    results = []
    for kind, length, path in records(Path(args.data), HERE / "results" / "cache" / "wfdb_read"):
        signal, _ = read_record(path, invalid="keep")
        ref = wfdb.rdrecord(str(path))
        np.testing.assert_array_equal(signal, ref.p_signal.T.astype(np.float32), err_msg=str(path))
        ecg_ms, wfdb_ms = median_ms([lambda: read_record(path, invalid="keep"),
                                     lambda: wfdb.rdrecord(str(path))], args.repeat)
        row = {"record": path.name, "kind": kind, "length": length, "shape": list(signal.shape),
               "ecg_ms": round(ecg_ms, 3), "wfdb_ms": round(wfdb_ms, 3), "speedup": round(wfdb_ms / ecg_ms, 2)}
        results.append(row)
        print(f"| {row['kind']} | {row['record']} | {length} | {signal.shape[0]} x {signal.shape[1]:,} | "
              f"{ecg_ms:.2f} | {wfdb_ms:.2f} | {wfdb_ms / ecg_ms:.1f}x |", flush=True)
    out = HERE / "results" / "wfdb_read.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"repeat": args.repeat, "wfdb": wfdb.__version__, "numpy": np.__version__,
                               "python": platform.python_version(), "results": results}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
