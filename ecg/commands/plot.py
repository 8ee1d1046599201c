"""``ecg plot RECORD``: draw a record on standard ECG paper into a PNG, SVG or PDF file.

25 mm/s, 10 mm/mV, 1 mm and 5 mm grid, drawn to scale at ``--dpi``
(:func:`ecg.plot.plot_ecg`): the leads stacked in rows of 10 s, or the standard 12-lead
printout (3x4 and a rhythm strip) with ``--layout 12``. The record's beat annotations
(``.atr``) are written along the top; ``--mask leads`` draws each lead's own P/QRS/T
annotation (LUDB) as coloured bands, ``--mask EXT`` one annotator's for every lead.

Exit codes: 0 written (its path is printed); 2 an unreadable record, an unknown lead or
annotator, or a range outside the record.
"""
EXAMPLE = """examples:
  ecg plot ../shared/data/fixture/cinc2017/A00001 --out a00001.png
  ecg plot ../shared/data/fixture/mitdb/208 --start 60 --end 80 --out 208.svg
  ecg plot ../shared/data/fixture/ludb/1 --layout 12 --mask leads --out ludb1.png
  ecg plot ../shared/data/fixture/mitdb/201 --leads MLII --start 0 --end 60 --dpi 100
  ecg plot ../shared/data/fixture/cinc2017/A00005 --set dpi=300 --set speed=50 --out a5.pdf
"""


def register(subparsers):
    """Add the ``plot`` sub-command to ``subparsers``."""
    import argparse

    from ecg.commands.common import add_shared

    parser = subparsers.add_parser("plot", help="draw a record on ECG paper (PNG/SVG/PDF)", description=__doc__,
                                   epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("record", help="record path: dir/NAME or dir/NAME.hea (WFDB), or dir/NAME.edf")
    parser.add_argument("--start", type=float, default=0.0, help="first second drawn (default 0)")
    parser.add_argument("--end", type=float, help="last second drawn (default: the end, at most 120 s; "
                                                  "with --layout 12, 10 s after --start)")
    parser.add_argument("--leads", help="leads to draw, by name or position, e.g. II,V1 (default all)")
    parser.add_argument("--layout", choices=("rows", "12"), default="rows",
                        help="rows: leads stacked (default); 12: the 3x4 printout with a rhythm strip")
    parser.add_argument("--rhythm", default="II", help="rhythm strip lead(s) of --layout 12 (default II)")
    parser.add_argument("--beats", help="annotator whose beat symbols are written (default atr when present)")
    parser.add_argument("--mask", help="P/QRS/T bands: 'leads' (each lead's own annotator, LUDB) or an annotator")
    parser.add_argument("--dpi", type=int, default=150, help="resolution of a PNG (default 150: 5.9 pixels per mm)")
    parser.add_argument("--speed", type=float, default=25.0, help="paper speed in mm/s (default 25)")
    parser.add_argument("--gain", type=float, default=10.0, help="gain in mm/mV (default 10)")
    add_shared(parser, "image file; the extension chooses the format (default NAME.png here); with --quiet "
                       "its path is not printed")
    parser.set_defaults(func=main)


def main(args):
    """Run ``ecg plot`` with parsed ``args``; print the image path; return 0."""
    from pathlib import Path

    from ecg.plot import plot_ecg

    name = Path(args.record).name
    out = args.out or f"{name[:-4] if name.endswith(('.hea', '.edf')) else name}.png"
    leads = [int(x) if x.strip().isdigit() else x.strip() for x in args.leads.split(",")] if args.leads else None
    rhythm = [x.strip() for x in args.rhythm.split(",") if x.strip()] or None
    path = plot_ecg(args.record, out, start=args.start, end=args.end, leads=leads, layout=args.layout,
                    rhythm=rhythm, beats=args.beats, mask=args.mask, dpi=args.dpi, speed=args.speed,
                    gain=args.gain)
    if not args.quiet:
        print(path)
    return 0
