"""``python -m numbanet COMMAND ...``: the same as the ``numbanet`` command."""

import sys

from numbanet.cli import main

sys.exit(main())
