"""``python -m rewards``: see `rewards.cli`."""

import sys

from rewards.cli import main

sys.exit(main())
