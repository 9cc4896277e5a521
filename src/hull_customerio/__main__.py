"""``python -m hull_customerio``: the ``hull-customerio`` command line."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
