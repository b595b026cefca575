"""The shared service container: a settings change rebuilds exactly what reads the changed fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.errors import OfflineModeEnabled
from app.core.settings import LanternSettings
from app.services.app_services import AppServices
from app.services.paths import resolve_paths
from app.services.profiles import read_profile
from app.services.service_registry import SERVICES
from tests.services.downloads.test_downloads import FAST_RETRY
from tests.support.gguf_files import write_gguf
from tests.support.hf_server import FakeHub

PROFILES = Path(__file__).parents[1] / "fixtures" / "profiles"


@pytest.fixture
def hub():
    with FakeHub() as server:
        yield server


@pytest.fixture
def closed():
    return []


@pytest.fixture
def services(hub, lantern_home, closed):
    def defer_close(fn):
        closed.append(fn)  # run them at the end: the test sees what was dropped, in order
    s = AppServices(LanternSettings(context_length=2048), resolve_paths(), endpoint=hub.endpoint,
                    defer_close=defer_close)
    s.hub.retry = FAST_RETRY
    s.use_profile(read_profile(PROFILES / "laptop-8gb-no-gpu.json"))
    yield s
    for fn in closed:
        fn()
    s.close()


def test_a_new_context_length_gives_a_new_acquirer_whose_next_fit_uses_it(hub, services, tmp_path, closed):
    path = write_gguf(tmp_path / "m.gguf", weight_bytes=4 << 20, block_count=4, context_length=32768)
    hub.add_file("someone/Ctx-GGUF", "m.gguf", path)
    registry, library, hub_client, acquirer = services.registry, services.library, services.hub, services.acquirer

    before = services.plan_pull("someone/Ctx-GGUF/m.gguf")
    assert before.fit is not None and before.fit.memory.context_length == 2048

    dropped = services.apply_settings(services.settings.model_copy(update={"context_length": 16384}))
    assert dropped == {"acquirer"}
    assert services.acquirer is not acquirer and services.acquirer.context_length == 16384
    # Nothing else was rebuilt: one registry per database file, the same hub client and course library.
    assert services.registry is registry and services.acquirer.registry is registry
    assert services.hub is hub_client and services.library is library

    after = services.plan_pull("someone/Ctx-GGUF/m.gguf")
    assert after.fit is not None and after.fit.memory.context_length == 16384
    assert after.fit.memory.kv_cache_bytes > 4 * before.fit.memory.kv_cache_bytes
    assert closed == []  # the acquirer owns nothing to close


def test_a_download_setting_rebuilds_the_manager_and_what_is_built_from_it(services, closed):
    manager, acquirer, hub_client = services.manager, services.acquirer, services.hub
    dropped = services.apply_settings(services.settings.model_copy(update={"max_parallel_downloads": 3}))
    assert dropped == {"manager", "acquirer"}
    assert len(closed) == 1  # the old manager is shut down (through defer_close, on the GUI's db worker)
    closed.pop()()
    assert manager._pool._shutdown
    assert services.manager is not manager and services.manager._pool._max_workers == 3
    assert services.acquirer is not acquirer and services.acquirer.manager is services.manager
    assert services.hub is hub_client


def test_an_unbuilt_service_is_not_built_by_a_settings_change(services):
    assert "embedder" not in services.built()
    assert services.apply_settings(services.settings.model_copy(update={"embedding_model": "x", "n_threads": 3})) \
        == set()
    assert "embedder" not in services.built()


def test_offline_mode_is_read_live_and_rebuilds_nothing(hub, services, tmp_path):
    path = write_gguf(tmp_path / "m.gguf")
    hub.add_file("someone/Off-GGUF", "m.gguf", path)
    built = {name: services.get(name) for name in ("hub", "manager", "acquirer", "registry")}
    assert services.apply_settings(services.settings.model_copy(update={"offline": True})) == set()
    seen = len(hub.requests)
    with pytest.raises(OfflineModeEnabled):
        services.plan_pull("someone/Off-GGUF/m.gguf")
    assert len(hub.requests) == seen  # refused before a request left
    assert all(services.get(name) is obj for name, obj in built.items())
    services.apply_settings(services.settings.model_copy(update={"offline": False}))
    assert services.plan_pull("someone/Off-GGUF/m.gguf").header is not None


def test_every_service_reads_only_real_settings_fields_and_needs_only_known_services():
    fields = set(LanternSettings.model_fields)
    for name, spec in SERVICES.items():
        assert spec.reads <= fields, name
        assert spec.needs <= set(SERVICES), name


def test_one_profile_per_process_until_refreshed(lantern_home):
    with AppServices(LanternSettings(), resolve_paths()) as services:
        first = services.profile()
        assert services.profile() is first and services.cached_profile is first
        again = services.refresh_profile()
        assert again is not first and services.profile() is again


def test_closed_services_close_what_was_built_and_refuse_new_work(lantern_home):
    services = AppServices(LanternSettings(), resolve_paths())
    services.registry  # noqa: B018 - built
    host = services.host
    services.close()
    assert services.built() == set()
    assert host.loaded("chat") is None
    with pytest.raises(RuntimeError, match="closed"):
        services.registry  # noqa: B018


def test_a_slow_build_does_not_block_other_services_and_a_stale_one_is_not_kept(lantern_home):
    import threading

    from app.services.service_registry import ServiceSpec

    started, release = threading.Event(), threading.Event()
    closed: list[str] = []

    def slow(s):
        threads = s.settings.n_threads  # read first, like a real build
        started.set()
        assert release.wait(10)
        return f"built with {threads} threads"

    specs = {**SERVICES, "slow": ServiceSpec(slow, frozenset({"n_threads"}), frozenset(), closed.append)}
    with AppServices(LanternSettings(n_threads=1), resolve_paths(), specs=specs) as services:
        result: list[str] = []
        worker = threading.Thread(target=lambda: result.append(services.get("slow")))
        worker.start()
        assert started.wait(10)
        assert services.catalog is not None  # another service while "slow" is still building
        services.apply_settings(services.settings.model_copy(update={"n_threads": 2}))  # mid-build
        release.set()
        worker.join(10)
        # The copy built from the old settings was closed, and a fresh one built from the new.
        assert closed == ["built with 1 threads"] and result == ["built with 2 threads"]


def test_with_nothing_indexed_the_default_course_is_the_builtin_one_in_the_learners_language(lantern_home):
    from app.core import i18n

    with AppServices(LanternSettings(), resolve_paths()) as services:
        assert services.pick_course(None).id == "python-from-zero"
        i18n.set_catalog("vi", {})
        assert services.pick_course(None).id == "python-co-ban"
        assert services.pick_course("python-from-zero").id == "python-from-zero"  # a named course wins
