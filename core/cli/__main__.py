"""``python -m core.cli`` runs the ``signal-lab`` command."""

import sys

from core.cli import main

sys.exit(main())
