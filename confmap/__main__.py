"""``python -m confmap``: the ``confmap`` command line (see :mod:`confmap.cli`)."""

import sys

from confmap.cli import main

if __name__ == "__main__":
    sys.exit(main())
