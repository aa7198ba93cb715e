"""``python -m thermoconsensus``."""

from .cli import run

run()
