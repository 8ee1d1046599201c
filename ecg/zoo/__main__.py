"""``python -m ecg.zoo add RUN_DIR --name NAME``: see :mod:`ecg.zoo`."""
import sys

from ecg.zoo import main

sys.exit(main())
