"""int8 vs float on the task models' test splits: the zoo's CinC 2017, MIT-BIH beat and LUDB models.

Usage::

    python benchmarks/export_int8.py [--tasks cinc2017 mitdb_beats ludb_delineation] [--ds2-records N]
                                     [--mirror ../shared/data/mirror]

Each zoo model is exported to float32 LiteRT and to full-integer int8 LiteRT with
:func:`ecg.export.export_model`, the int8 file calibrated on windows of the model's
*training* split prepared by its own recipe (``--calibration-records`` records,
at most ``--calibration-windows`` windows). Then the Keras model and both files
predict the *test* split from the raw records through the recipe, as ``ecg predict``
does:

* ``cinc2017``: the 753 test records of ``pipelines/cinc2017.yaml``: Challenge F1,
  AF-vs-rest macro F1, and the share of test records (and of their 30 s windows) on
  which each export predicts the Keras model's class;
* ``mitdb_beats``: the DS2 records (the first ``--ds2-records`` of them, all by
  default), the beats the recipe detects matched to the ``.atr`` beats: macro F1 of
  N, S and V, the F1 of each, and the share of detected beats with the Keras class;
* ``ludb_delineation``: the test split of ``pipelines/ludb_delineation.yaml`` (the
  records the zoo model saved as its test split), all 12 leads: wave F1 of P, QRS and T
  within the tolerance, per-sample F1, and the share of samples with the Keras class.
Prints the tables and writes ``benchmarks/results/export_int8.json``.
"""
import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
SHARED = Path(os.environ.get("ECG_SHARED_DATA", HERE.parent.parent / "shared" / "data"))
DATASETS = {"cinc2017": "cinc2017", "mitdb_beats": "mitdb", "ludb_delineation": "ludb"}


def export_pair(name, folder, mirror, records, windows):
    """zoo:NAME as float32 and int8 LiteRT; ``[(label, path, report)]``."""
    from ecg.export import export_model

    out = []
    for quantize in (None, "int8"):
        path = folder / f"{name}{'_int8' if quantize else ''}.tflite"
        start = time.perf_counter()
        report = export_model(f"zoo:{name}", path, quantize=quantize, calibration=DATASETS[name], mirror=mirror,
                              calibration_records=records, max_windows=windows, latency_repeats=20, log=None)
        print(f"{name} {quantize or 'float32'}: {report['bytes']:,} bytes, parity on "
              f"{report['parity']['windows']} calibration windows: same class {100 * report['parity']['same_class']:.1f} %, "
              f"max |diff| {report['parity']['max_abs_diff']:.3g}"
              + (f", ranges from {report['calibration']['used']} windows (same class by share kept: "
                 f"{report['calibration'].get('same_class_by_keep')})" if report.get("calibration") else "")
              + f" ({time.perf_counter() - start:.0f} s)", flush=True)
        out.append((f"litert {quantize or 'float32'}", path, report))
    return out


def evaluate_beats(files, mirror, n_records):
    """MIT-BIH DS2 beat metrics of the Keras model and each file, and their agreement with Keras."""
    from ecg.data.datasets import get_dataset
    from ecg.data.datasets.base import make_subset
    from ecg.export import load_exported
    from ecg.models.keras_model import KerasBaseModel
    from ecg.tasks.beats import NO_BEAT, Config, evaluate_detected

    keras_model = KerasBaseModel({"path": "zoo:mitdb_beats"})
    info = keras_model.config.info
    records = info["splits"]["test"][:n_records] if n_records else info["splits"]["test"]
    spec = get_dataset("mitdb", mirror=mirror)
    test = make_subset(spec.dataset, records)
    cfg = Config.model_construct(classes=info["classes"], scored=info["scored"], reported=info["reported"],
                                 tolerance=info.get("tolerance", 0.15), name="mitdb_beats")
    results, reference = {}, None
    for label, model in [("keras float32", keras_model)] + [(name, load_exported(path)) for name, path in files]:
        start = time.perf_counter()
        report, rows, _ = evaluate_detected(cfg, model, test)
        predicted = [(row["record"], row["sample"], row["predicted"]) for row in rows if row["predicted"] != NO_BEAT]
        reference = predicted if reference is None else reference
        same = sum(a == b for a, b in zip(predicted, reference)) / max(len(reference), 1)
        results[label] = {"records": len(records), "beats": report["n_beats"], "macro_f1": report["macro_f1"],
                          **{f"{c}_f1": report["table"][c]["F1"] for c in ("N", "S", "V", "F")},
                          "same_beat_class_as_keras": float(same) if len(predicted) == len(reference) else None,
                          "seconds": round(time.perf_counter() - start, 1)}
        print(f"{label:<16} " + " | ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                           for k, v in results[label].items()), flush=True)
    return results


def evaluate_ludb(files, mirror):
    """LUDB test-split delineation scores of the Keras model and each file, and their agreement with Keras."""
    from ecg.data.datasets import get_dataset, ludb
    from ecg.data.datasets.base import make_subset
    from ecg.export import load_exported
    from ecg.models.keras_model import KerasBaseModel
    from ecg.tasks.delineation import PostConfig, cleaned, predict_records, reference_masks, scores

    keras_model = KerasBaseModel({"path": "zoo:ludb_delineation"})
    info = keras_model.config.info
    spec = get_dataset("ludb", mirror=mirror)
    test = make_subset(spec.dataset, info["splits"]["test"])
    references = reference_masks(test, info["leads"])
    results, reference = {}, None
    for label, model in [("keras float32", keras_model)] + [(name, load_exported(path)) for name, path in files]:
        start = time.perf_counter()
        raw, _ = predict_records(model, test)
        masks = cleaned(raw, info["fs"], PostConfig(**info.get("post", {})))
        report = scores(references, masks, info["fs"], ludb.FS, info.get("tolerance", 0.15))
        reference = raw if reference is None else reference
        same = np.mean(np.concatenate([raw[k] == reference[k] for k in reference]))
        results[label] = {"records": len(test), "leads": len(raw),
                          **{f"{w}_wave_f1": report["waves"][w]["F1"] for w in report["waves"]},
                          **{f"{w}_sample_f1": v for w, v in report["sample_f1"].items()},
                          "same_sample_class_as_keras": float(same),
                          "seconds": round(time.perf_counter() - start, 1)}
        print(f"{label:<16} " + " | ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                           for k, v in results[label].items()), flush=True)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="*", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--mirror", default=str(SHARED / "mirror"), help="PhysioNet mirror")
    parser.add_argument("--calibration-records", type=int, default=1000)
    parser.add_argument("--calibration-windows", type=int, default=2000)
    parser.add_argument("--ds2-records", type=int, default=0, help="DS2 records scored (0: all 22)")
    parser.add_argument("--out", default=str(HERE / "results" / "export_int8.json"))
    args = parser.parse_args(argv)

    import keras

    from export import evaluate as evaluate_cinc

    folder = Path(tempfile.mkdtemp(prefix="ecg-int8-"))
    result = {"date": time.strftime("%Y-%m-%d"), "machine": platform.platform(), "cpus": os.cpu_count(),
              "keras": keras.__version__, "calibration_records": args.calibration_records,
              "calibration_windows": args.calibration_windows, "tasks": {}}
    for name in args.tasks:
        exports = export_pair(name, folder, args.mirror, args.calibration_records, args.calibration_windows)
        files = [(label, path) for label, path, _ in exports]
        if name == "cinc2017":
            metrics = evaluate_cinc(files, args.mirror)
        elif name == "ludb_delineation":
            metrics = evaluate_ludb(files, args.mirror)
        else:
            metrics = evaluate_beats(files, args.mirror, args.ds2_records)
        result["tasks"][name] = {"exports": {label: {k: report.get(k) for k in ("bytes", "parity", "calibration",
                                                                                "quantization_params")}
                                             for label, _, report in exports},
                                 "test": metrics}
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
