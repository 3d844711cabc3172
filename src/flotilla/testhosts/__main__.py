"""`python -m flotilla.testhosts ...` is `flotilla testhosts ...` (Molecule's create step calls it)."""

import sys

from flotilla.cli import main

sys.exit(main(["testhosts", *sys.argv[1:]]))
