"""``python -m graphviz_grad``: the command line."""

from .cli import main

raise SystemExit(main())
