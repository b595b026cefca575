"""Roles, tiers, providers and prices: the shipped tables parse, overrides win, bad values say how to fix them."""

from __future__ import annotations

import tomllib

import pytest

from app.core.circuit import CircuitBreaker
from app.core.errors import CatalogInvalid, SettingsInvalid
from app.core.model_roles import ROLES, ModelRef, parse_model_ref, parse_providers, parse_tiers, resolve_roles
from app.core.pricing import local_energy_cost, parse_price_table
from app.services.resources import resource_path


def _toml(*parts: str) -> dict:
    with resource_path(*parts).open("rb") as fh:
        return tomllib.load(fh)


def test_model_references_parse_and_print_back():
    ref = parse_model_ref("cloud:openrouter/openai/gpt-4o-mini")
    assert ref == ModelRef("cloud", "openrouter/openai/gpt-4o-mini")
    assert (ref.provider, ref.model) == ("openrouter", "openai/gpt-4o-mini")
    assert str(ref) == "cloud:openrouter/openai/gpt-4o-mini"
    assert parse_model_ref(" local:auto ") == ModelRef("local", "auto")
    assert parse_model_ref("none") is None


@pytest.mark.parametrize("bad", ["gpt-4o", "cloud:gpt-4o", "cloud:/x", "remote:x", "local:", "cloud:Open AI/x"])
def test_a_bad_reference_is_refused_with_a_hint(bad):
    with pytest.raises(SettingsInvalid) as err:
        parse_model_ref(bad)
    assert err.value.hint and ("cloud:" in err.value.hint or "local:" in err.value.hint)


def test_shipped_tiers_resolve_and_overrides_win():
    tiers = parse_tiers(_toml("cloud", "tiers.toml"))
    assert {"free", "pro", "local"} <= set(tiers)
    free = resolve_roles(tiers, "free", {})
    assert free.get("default") == ModelRef("local", "auto") and free.get("fallback").is_cloud
    assert set(free.sources.values()) == {"tier"}
    assert resolve_roles(tiers, "local", {}).uses_cloud is False
    mine = resolve_roles(tiers, "free", {"fallback": "cloud:openai/gpt-4.1-mini", "code": "none"})
    assert mine.get("fallback") == ModelRef("cloud", "openai/gpt-4.1-mini") and mine.get("code") is None
    assert mine.sources["fallback"] == "setting" and mine.sources["default"] == "tier"
    assert set(mine.to_dict()["roles"]) == set(ROLES)
    with pytest.raises(SettingsInvalid, match="no tier"):
        resolve_roles(tiers, "gold", {})
    with pytest.raises(SettingsInvalid, match="not a role"):
        resolve_roles(tiers, "free", {"teacher": "local:auto"})


def test_every_cloud_model_the_tiers_name_has_a_price_with_source_and_date():
    tiers = parse_tiers(_toml("cloud", "tiers.toml"))
    prices = parse_price_table(_toml("pricing", "cloud_models.toml"))
    providers = parse_providers(_toml("cloud", "providers.toml"))
    for tier in tiers.values():
        for ref in [*tier.roles.values(), tier.reference]:
            if ref is not None and ref.is_cloud:
                price = prices.get(ref)
                assert price is not None, ref
                assert price.source.startswith("https://") and len(price.as_of) == 10
                assert ref.provider in providers


def test_costs_are_per_million_tokens_and_unknown_is_not_zero():
    prices = parse_price_table({"model": [{"provider": "p", "model": "m", "input_per_mtok": 2.0,
                                           "output_per_mtok": 8.0, "context_window": 1000, "source": "s",
                                           "as_of": "2025-01-01"}]})
    assert prices.cost(ModelRef("cloud", "p/m"), 500_000, 250_000) == pytest.approx(1.0 + 2.0)
    assert prices.cost(ModelRef("cloud", "p/other"), 10, 10) is None
    assert prices.cost(ModelRef("local", "auto"), 10_000, 10_000) == 0.0
    with pytest.raises(CatalogInvalid):
        parse_price_table({"model": [{"provider": "p", "model": "m"}]})
    assert local_energy_cost(3600, watts=None, price_kwh=0.3) == 0.0
    assert local_energy_cost(3600, watts=100, price_kwh=0.3) == pytest.approx(0.03)


def test_user_providers_extend_the_table_and_bad_ones_are_refused():
    base = _toml("cloud", "providers.toml")
    providers = parse_providers(base, {"myvllm": "http://10.0.0.5:8000/v1"})
    assert providers["myvllm"].base_url == "http://10.0.0.5:8000/v1" and not providers["myvllm"].needs_key
    assert providers["openai"].needs_key
    with pytest.raises(SettingsInvalid):
        parse_providers(base, {"x": "ftp://host"})


def test_circuit_breaker_opens_after_failures_honours_retry_after_and_closes_on_success():
    now = [100.0]
    breaker = CircuitBreaker(failures_to_open=2, cooldown_s=30, clock=lambda: now[0])
    breaker.failed("a", error="500")
    assert breaker.retry_in("a") is None  # one failure is not a pattern
    breaker.failed("a", error="500")
    assert breaker.retry_in("a") == pytest.approx(30)
    now[0] += 31
    assert breaker.retry_in("a") is None  # half-open: one try allowed
    breaker.failed("a")
    assert breaker.retry_in("a") == pytest.approx(60)  # re-opened at once, for twice as long
    breaker.succeeded("a")
    assert breaker.retry_in("a") is None
    breaker.failed("b", retry_after_s=7)
    assert breaker.retry_in("b") == pytest.approx(7)
