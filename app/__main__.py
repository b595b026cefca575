"""`python -m app` is the same as the `lantern` command."""

from __future__ import annotations

import sys

if sys.argv[1:2] == ["--lantern-sandbox-child"]:  # the snippet sandbox's child (app/services/learning/sandbox.py)
    from app.services.learning.sandbox_child import main as sandbox_child

    sys.exit(sandbox_child(sys.argv[2:]))

from app.cli import main  # after the sandbox check, which must not load the app

sys.exit(main())
