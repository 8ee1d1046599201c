"""``ecg export``: a saved model -> ONNX or LiteRT file for deployment, with its report."""
EPILOG = """\
outputs:
  OUT                  the exported network (.onnx or .tflite)
  OUT.json             sidecar: classes, input shape and dtype, sampling rate, the
                       preprocessing recipe, int8 scale and zero point of each input/output
  OUT.report.json      size, parameters, MACs, peak activation memory, CPU latency,
                       parity with the Keras model
  <OUT stem>.h         with --c-header: the flatbuffer as an aligned C array and its length

examples:
  ecg export --model zoo:cinc2017 --format onnx --out cinc2017.onnx
  ecg export --model zoo:cinc2017 --format tflite --quantize int8 --calibration cinc2017 \\
      --mirror ../shared/data/mirror --c-header --out cinc2017_int8.tflite
  ecg export --model zoo:cinc2017 --out cinc2017.onnx --set repeats=10 --quiet
  ecg predict --model cinc2017_int8.tflite --records ../shared/data/fixture/cinc2017 --out pred.csv

exit status: 0 exported; 2 error (bad arguments, or a network that cannot be exported:
the message names the layer and the reason)
"""


def register(subparsers):
    """Add the ``export`` sub-command."""
    import argparse

    from ecg.commands.common import add_shared

    parser = subparsers.add_parser(
        "export", help="export a saved model to ONNX or LiteRT (float32 or int8)",
        description="Convert a saved model (a folder written by KerasBaseModel.save, or zoo:NAME) for "
                    "deployment, check it against the Keras model and measure it.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="saved model folder or zoo:NAME")
    parser.add_argument("--format", choices=("onnx", "tflite"), help="default: from the suffix of --out")
    parser.add_argument("--quantize", choices=("int8",), help="full-integer int8 (tflite only; needs --calibration)")
    parser.add_argument("--calibration", help="real windows for int8 and the parity check: a folder of "
                                              "records, or a dataset name (its training split)")
    parser.add_argument("--calibration-records", type=int, default=200, help="records read (default 200)")
    parser.add_argument("--calibration-keep", type=_keep, default="auto",
                        help="share of the calibration windows, those with the least extreme activations, "
                             "that set the int8 ranges (1: every window; default auto: 1 or 0.5, whichever "
                             "agrees with the Keras model on more calibration windows)")
    parser.add_argument("--mirror", help="PhysioNet mirror for a --calibration dataset")
    parser.add_argument("--data-path", help="an extracted copy of the --calibration dataset")
    parser.add_argument("--fs", type=float, help="sampling rate of the windows in Hz for the sidecar, when "
                                                 "the model's recipe does not resample")
    parser.add_argument("--c-header", action="store_true", help="also write <OUT stem>.h (tflite)")
    parser.add_argument("--npu-check", action="store_true", help="refuse a layer_spec network that breaks "
                                                                 "an NPU rule")
    parser.add_argument("--repeats", type=int, default=50, help="timed runs of the latency (default 50)")
    add_shared(parser, "file to write: .onnx or .tflite", out_required=True)
    parser.set_defaults(func=run)


def _keep(text):
    """``--calibration-keep``: ``auto`` or a share in (0, 1]."""
    import argparse

    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a share in (0, 1], got {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a share in (0, 1], got {text!r}")
    return value


def run(args):
    """Run ``ecg export`` with parsed arguments; return the exit status."""
    from ecg.export import export_model

    export_model(args.model, args.out, format=args.format, quantize=args.quantize, calibration=args.calibration,
                 c_header=args.c_header, fs=args.fs, mirror=args.mirror, data_path=args.data_path,
                 calibration_records=args.calibration_records,
                 calibration_keep=args.calibration_keep, npu_check=args.npu_check,
                 latency_repeats=args.repeats, log=None if args.quiet else print)
    return 0
