"""`python -m model.review_eval`, the documented entry point: a shim for `model.suggest.review_eval`."""

import sys

from model.suggest import review_eval as _impl

if __name__ == "__main__":
    sys.exit(_impl.main())
