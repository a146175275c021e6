"""``python -m numbanet.tui``: the same as ``numbanet step``."""

from numbanet.tui import main

raise SystemExit(main())
