"""The ``syncd`` console script's entry point; the command layer is ``syncd.commands``."""

from __future__ import annotations

import sys

from syncd.commands.main import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
