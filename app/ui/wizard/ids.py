"""The wizard's page ids, in order (a module of its own so pages can name each other without cycles)."""

from __future__ import annotations

DEVICE, MODEL, DOWNLOAD, COURSE, READY = range(5)

CHAT, EMBEDDING = "chat", "embedding"  # the roles of `AppState.pending_pulls`
EMBEDDER_SPEC = "all-minilm-l6-v2:F16"  # the catalog embedder the wizard offers (46 MB, English)
