"""``ecg download``: fetch and verify a PhysioNet database, as an archive or file by file."""
from pathlib import Path

EXAMPLE = """examples:
  ecg download ludb --mirror ../shared/data/mirror       # from a local mirror
  ecg download cinc2017 --dest data/downloads            # from PhysioNet
  ecg download mitdb --files --quiet                      # file by file, no progress bars
  ecg download ludb --mirror ../shared/data/mirror --out data/ludb --set force=true

exit status: 0 done (the extracted folder is printed); 2 an unknown database, a failed
download or a checksum that does not match (the file is named).
"""


def register(subparsers):
    """Add the ``download`` sub-command to ``subparsers``."""
    import argparse

    from ecg.commands.common import add_shared
    from ecg.data.download import available

    parser = subparsers.add_parser(
        "download", help="download, verify and extract a PhysioNet database",
        description="Download a PhysioNet database, verify its SHA-256, extract it once and "
                    "print the extracted folder. The archive is used when its SHA-256 is known; "
                    "otherwise each file of the project is downloaded and verified against the "
                    "project's SHA256SUMS.txt. An interrupted transfer resumes where it stopped.",
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=available(), help="database to download")
    parser.add_argument("--mirror", default=None,
                        help="base URL or local folder laid out like https://physionet.org/files/ "
                             "(default: $ECG_MIRROR, else PhysioNet)")
    parser.add_argument("--force", action="store_true", help="download and extract again")
    parser.add_argument("--no-verify", dest="verify", action="store_false",
                        help="accept an archive whose SHA-256 no checksum list knows (instead of "
                             "downloading file by file)")
    parser.add_argument("--files", action="store_true",
                        help="skip the archive: download each file listed in the project's "
                             "<db>/<version>/SHA256SUMS.txt and verify it")
    add_shared(parser, "download folder (default: $ECG_DATA_DIR, else ./data/downloads); --dest is the same",
               out_flags=("--out", "--dest"), out_dest="dest")
    parser.set_defaults(func=run)


def run(args):
    """Run ``ecg download`` with parsed ``args``; print the extracted root; return 0."""
    from ecg.data.download import download

    root = download(args.dataset, dest=Path(args.dest) if args.dest else None, mirror=args.mirror, progress=not args.quiet,
                    force=args.force, verify=args.verify, files=args.files)
    print(root)
    return 0
