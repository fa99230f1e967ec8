"""``python -m onestop``."""

import sys

from onestop.cli import main

sys.exit(main())
