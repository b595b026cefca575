from __future__ import annotations

import sys

from app.services import resources


def test_source_checkout_resources_exist():
    assert resources.resource_path("catalog", "models.toml").is_file()
    assert resources.resource_path("hardware", "performance.toml").is_file()


def test_frozen_bundle_uses_meipass(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resources.resources_root() == tmp_path / "resources"
