"""``python -m hull_customerio.cli``: the ``hull-customerio`` command line."""

from . import main

if __name__ == "__main__":
    raise SystemExit(main())
