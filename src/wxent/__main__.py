"""``python -m wxent``: the command line (see :mod:`wxent.cli`)."""

from wxent.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
