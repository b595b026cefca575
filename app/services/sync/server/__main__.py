"""`python -m app.services.sync.server`: the same as `lantern-sync-server`."""

from __future__ import annotations

from app.services.sync.server.cli import main

raise SystemExit(main())
