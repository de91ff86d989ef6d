"""``python -m stillroom.cli``: the ``stillroom`` command."""

import sys

from stillroom.cli.main import main

sys.exit(main())
