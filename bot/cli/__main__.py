"""``python -m bot.cli``: the same as the ``ssj`` command."""

from bot.cli import main

raise SystemExit(main())
