"""Settings: TOML file + LANTERN_ env vars, LANTERN_HOME for every location, migrations."""

from __future__ import annotations

import pytest

from app.core.errors import SettingsInvalid
from app.core.settings import SETTINGS_SCHEMA_VERSION, LanternSettings, migrate_settings
from app.services.paths import resolve_paths
from app.services.settings_store import load_settings, save_settings


def test_lantern_home_moves_every_location(lantern_home):
    paths = resolve_paths()
    for path in (paths.config_file, paths.data_dir, paths.models_dir, paths.index_dir, paths.database_file,
                 paths.log_dir, paths.cache_dir):
        assert lantern_home in path.parents
    paths.ensure()
    assert paths.models_dir.is_dir() and paths.log_dir.is_dir()


def test_defaults_without_a_file():
    s = load_settings()
    assert s.offline is False and s.context_length == 4096 and s.schema_version == SETTINGS_SCHEMA_VERSION


def test_file_then_environment_wins(monkeypatch):
    path = resolve_paths().config_file
    path.parent.mkdir(parents=True)
    path.write_text('schema_version = 1\ncontext_length = 8192\nintent = "code"\n')
    assert load_settings().context_length == 8192
    monkeypatch.setenv("LANTERN_CONTEXT_LENGTH", "2048")
    monkeypatch.setenv("LANTERN_OFFLINE", "1")
    s = load_settings()
    assert s.context_length == 2048 and s.intent == "code" and s.offline is True


def test_save_then_load_round_trip(tmp_path):
    target = tmp_path / "cfg" / "config.toml"
    save_settings(LanternSettings(context_length=16384, intent="multilingual", n_threads=2), target)
    s = load_settings(target)
    assert (s.context_length, s.intent, s.n_threads) == (16384, "multilingual", 2)
    assert not list(target.parent.glob(".config-*"))  # no temp file left behind


def test_migrates_a_file_without_version(tmp_path):
    target = tmp_path / "config.toml"
    target.write_text("context_length = 1024\n")
    assert load_settings(target).schema_version == SETTINGS_SCHEMA_VERSION
    assert migrate_settings({"context_length": 1024}) == {"context_length": 1024, "schema_version": 1}


@pytest.mark.parametrize(("content", "message"), [
    ("context_length = [", "not valid TOML"),
    ("schema_version = 99\n", "newer Lantern"),
    ("context_length = 12\n", "context_length"),
    ('intent = "poetry"\n', "intent"),
])
def test_bad_files_get_clear_messages(tmp_path, content, message):
    target = tmp_path / "config.toml"
    target.write_text(content)
    with pytest.raises(SettingsInvalid) as info:
        load_settings(target)
    assert message in info.value.user_message and info.value.hint


def test_every_field_is_described():
    for name, field in LanternSettings.model_fields.items():
        assert field.description, name
