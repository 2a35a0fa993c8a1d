"""``python -m tpcore.cli``: the same as the ``tpcore`` command."""

import sys

from tpcore.cli import main

sys.exit(main())
