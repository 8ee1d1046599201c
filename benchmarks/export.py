"""Export table: every architecture and the zoo's CinC 2017 model as ONNX and LiteRT.

Usage::

    python benchmarks/export.py [--archs cnn tcn ...] [--no-zoo] [--evaluate --mirror ../shared/data/mirror]

* **Architectures**: each architecture of the ModelFactory in its default parameters
  (``layer_spec``: the TI-style list of :data:`LAYER_SPEC`), for windows of
  :data:`STEPS` samples x 1 lead and 4 classes, exported to ONNX and to float32 LiteRT
  with :func:`ecg.export.export_model`; parity with Keras on seeded random windows.
* **Zoo** ``zoo:cinc2017``: ONNX, float32 LiteRT and full-integer int8 LiteRT, the int8
  calibrated on windows of 200 records of the CinC 2017 *training* split prepared by
  the model's own recipe (parity checked on those windows).
* ``--evaluate``: the zoo model's task metrics on the CinC 2017 *test* split (753
  records, the split of ``pipelines/cinc2017.yaml``: ``split_seed`` 0), for the Keras
  model, the float32 LiteRT file and the int8 file, each predicting the raw records
  through the recipe as ``ecg predict`` does; plus the share of test windows and of
  test records on which each export predicts the Keras model's class.

Each export's report gives file size, parameters, MACs per window, peak activation
memory (LiteRT) and CPU latency per window: batch of 1, one thread, median of
``--repeats`` runs. Prints the tables and writes ``benchmarks/results/export.json``.
"""
import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path


HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
SHARED = Path(os.environ.get("ECG_SHARED_DATA", HERE.parent.parent / "shared" / "data"))
STEPS = 2560
CLASSES = ["N", "A", "O", "~"]
LAYER_SPEC = {"layers": [{"type": "ConvBNReLU", "out_channels": 8, "kernel_size": 7, "stride": 2},
                         {"type": "MaxPool", "kernel_size": 4},
                         {"type": "DWConvBNReLU", "kernel_size": 5},
                         {"type": "PWConvBNReLU", "out_channels": 16},
                         {"type": "MaxPool", "kernel_size": 4},
                         {"type": "DWConvBNReLU", "kernel_size": 5},
                         {"type": "PWConvBNReLU", "out_channels": 32},
                         {"type": "GlobalAvgPool"},
                         {"type": "Linear"}]}


def architecture_model(name):
    from ecg.models.keras_model import KerasBaseModel

    from ecg.errors import ConfigError

    params = LAYER_SPEC if name == "layer_spec" else {}
    for task in ("classification", "segmentation"):      # an architecture with no classifier: per sample
        model = KerasBaseModel({"model": {"name": name, "params": params}, "input_shape": (STEPS, 1), "task": task,
                                "num_classes": len(CLASSES), "classes": CLASSES, "seed": 0})
        try:
            return model.build((STEPS, 1), len(CLASSES))
        except ConfigError as exc:
            if "cannot do task" not in str(exc) or task == "segmentation":
                raise


def row(name, report):
    return {"model": name, "format": report["format"], "quantization": report["quantization"],
            "bytes": report["bytes"], "parameters": report["parameters"], "macs": report["macs"],
            "peak_activation_bytes": report["peak_activation_bytes"],
            "latency_ms": next(iter(report["latency_ms"].values())), "runtime": next(iter(report["latency_ms"])),
            "max_abs_diff": report["parity"]["max_abs_diff"], "same_class": report["parity"]["same_class"],
            "parity_windows": f"{report['parity']['windows']} {report['parity']['source']}"}


def print_table(rows, header=True):
    if header:
        print(f"{'model':<22} {'format':<13} {'bytes':>11} {'params':>11} {'MACs':>13} {'peak act.':>10} "
              f"{'latency ms':>10} {'runtime':<11} {'max|diff|':>9} {'same':>6}")
    for r in rows:
        if "error" in r:
            print(f"{r['model']:<22} {r['format']:<13} export failed: {r['error']}")
            continue
        peak = "" if r["peak_activation_bytes"] is None else f"{r['peak_activation_bytes']:,}"
        fmt = r["format"] + ("" if r["quantization"] == "float32" else f" {r['quantization']}")
        macs = "" if r["macs"] is None else f"{r['macs']:,}"
        print(f"{r['model']:<22} {fmt:<13} {r['bytes']:>11,} {r['parameters']:>11,} {macs:>13} {peak:>10} "
              f"{r['latency_ms']:>10.3f} {r['runtime']:<11} {r['max_abs_diff']:>9.1e} {100 * r['same_class']:>5.1f}%")


def evaluate(zoo_files, mirror):
    """Task metrics of the Keras model and each export on the CinC 2017 test split."""
    from ecg.data.datasets import get_dataset
    from ecg.data.datasets.base import make_subset
    from ecg.export import load_exported
    from ecg.export.calibration import representative_windows
    from ecg.models.keras_model import KerasBaseModel
    from ecg.recipes import predict_dataset
    from ecg.tasks.rhythm import Config, scores

    keras_model = KerasBaseModel({"path": "zoo:cinc2017"})
    info = keras_model.config.info
    spec = get_dataset("cinc2017", mirror=mirror, seed=0)
    test = make_subset(spec.dataset, spec.splits["test"])
    cfg = Config.model_construct(classes=info["classes"], scored=info["scored"], positive=info["positive"])
    windows = representative_windows(keras_model.config, "cinc2017", n_records=10**6, max_windows=10**7,
                                     mirror=mirror, split="test")
    reference_windows = keras_model.predict_on_batch(windows).argmax(-1)
    results, reference = {}, None
    for label, model in [("keras float32", keras_model)] + [(name, load_exported(path)) for name, path in zoo_files]:
        start = time.perf_counter()
        predicted = predict_dataset(model, test)
        labels = spec.labels.loc[predicted.records, "label"].tolist()
        report = scores(cfg, labels, predicted.probabilities, info.get("threshold"))
        decisions = predicted.probabilities.argmax(-1)
        reference = decisions if reference is None else reference
        results[label] = {
            "records": len(predicted.records), "missing": len(predicted.missing),
            "challenge_f1": report["challenge_f1"], "macro_f1": report["macro_f1"], "accuracy": report["accuracy"],
            "A_vs_rest_macro_f1": report["A_vs_rest_macro_f1"],
            "same_record_class_as_keras": float((decisions == reference).mean()),
            "same_window_class_as_keras": float((model.predict_on_batch(windows).argmax(-1)
                                                 == reference_windows).mean()),
            "test_windows": int(len(windows[0])), "seconds": round(time.perf_counter() - start, 1)}
        print(f"{label:<16} " + " | ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                           for k, v in results[label].items()), flush=True)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", nargs="*", help="architectures (default: all of the factory)")
    parser.add_argument("--no-zoo", action="store_true", help="skip the zoo:cinc2017 exports")
    parser.add_argument("--evaluate", action="store_true", help="CinC 2017 test-split metrics of the zoo exports")
    parser.add_argument("--mirror", default=str(SHARED / "mirror"), help="PhysioNet mirror (CinC 2017)")
    parser.add_argument("--repeats", type=int, default=50, help="timed runs per latency (default 50)")
    parser.add_argument("--out", default=str(HERE / "results" / "export.json"))
    args = parser.parse_args(argv)

    import keras

    from ecg.errors import EcgError
    from ecg.export import export_model
    from ecg.models.factory import model_factory

    rows = []
    folder = Path(tempfile.mkdtemp(prefix="ecg-export-"))
    for name in args.archs or model_factory.list():
        model = architecture_model(name)
        for fmt in ("onnx", "tflite"):
            try:
                report = export_model(model, folder / f"{name}.{fmt}", latency_repeats=args.repeats, log=None)
                rows.append(row(name, report))
            except EcgError as exc:
                rows.append({"model": name, "format": fmt, "error": str(exc)})
            print_table(rows[-1:], header=len(rows) == 1)
    zoo_files, evaluation = [], None
    if not args.no_zoo:
        for fmt, quantize in (("onnx", None), ("tflite", None), ("tflite", "int8")):
            path = folder / f"cinc2017{'_int8' if quantize else ''}.{fmt}"
            report = export_model("zoo:cinc2017", path, quantize=quantize, calibration="cinc2017",
                                  mirror=args.mirror, latency_repeats=args.repeats, log=None)
            rows.append(row("zoo:cinc2017", report))
            print_table(rows[-1:], header=False)
            if fmt == "tflite":
                zoo_files.append((f"litert {quantize or 'float32'}", path))
        if args.evaluate:
            evaluation = evaluate(zoo_files, args.mirror)
    print()
    print_table(rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"date": time.strftime("%Y-%m-%d"), "machine": platform.platform(), "cpus": os.cpu_count(),
              "keras": keras.__version__, "steps": STEPS, "repeats": args.repeats, "rows": rows,
              "cinc2017_test": evaluation}
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
