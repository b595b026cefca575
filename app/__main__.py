"""`python -m app` is the same as the `lantern` command."""

from __future__ import annotations

import sys

from app.cli import main

sys.exit(main())
