"""``python -m thermoconsensus``."""

import sys

from .cli import main

sys.exit(main())
