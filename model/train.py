"""`python -m model.train`, the documented entry point: a shim for `model.training.train`."""

import sys

from model.training import train as _impl

if __name__ == "__main__":
    sys.exit(_impl.main())
