"""The cloud side of the configuration: providers, tiers, prices (resources/cloud, resources/pricing)
and the settings that pick among them, resolved into one `CloudSetup` the router and the CLI share.

`blocked(ref)` is the single place that says whether a cloud model may be used *now* — offline
mode, the learner's consent, a missing key, a failing endpoint, the month's budget — so the router,
`lantern models roles` and the Settings dialog give the same answer.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.core.circuit import CircuitBreaker
from app.core.errors import CloudNotConfigured
from app.core.i18n import _
from app.core.model_roles import ModelRef, Provider, ResolvedRoles, Tier, parse_providers, parse_tiers, resolve_roles
from app.core.pricing import PriceTable, parse_price_table
from app.core.settings import LanternSettings
from app.services.catalog_store import read_toml
from app.services.resources import resource_path

log = logging.getLogger(__name__)


@functools.cache
def default_tiers() -> dict[str, Tier]:
    return parse_tiers(read_toml(resource_path("cloud", "tiers.toml"), _("tiers table")))


@functools.cache
def _provider_table() -> dict[str, Any]:
    return read_toml(resource_path("cloud", "providers.toml"), _("cloud providers table"))


@functools.cache
def default_prices() -> PriceTable:
    return parse_price_table(read_toml(resource_path("pricing", "cloud_models.toml"), _("price table")))


@dataclass
class CloudSetup:
    """Settings + tables → the role map, the providers, the prices and what is usable now."""

    settings: LanternSettings
    roles: ResolvedRoles
    providers: dict[str, Provider]
    prices: PriceTable
    api_key: Callable[[str], str | None]          # provider → its key (keyring / environment), or None
    offline: Callable[[], bool]
    month_spent_usd: Callable[[], float] = lambda: 0.0
    breaker: CircuitBreaker | None = None

    def blocked(self, ref: ModelRef) -> str | None:
        """None when `ref` (a cloud model) can be asked now; else why not (app.core.route_plan codes).
        Consent "ask" is not a block: the learner is asked at the moment of sending."""
        if self.offline():
            provider = self.providers.get(ref.provider)
            from app.services.net import is_loopback_url

            if provider is None or not is_loopback_url(provider.base_url):
                return "offline"
        if self.settings.cloud_consent == "never":
            return "consent_never"
        provider = self.providers.get(ref.provider)
        if provider is None:
            return "unknown_provider"
        if provider.needs_key and not self.api_key(provider.name):
            return "no_key"
        if self.breaker is not None and self.breaker.retry_in(endpoint_key(ref)) is not None:
            return "cooling_down"
        budget = self.settings.cloud_monthly_budget_usd
        if budget is not None and self.month_spent_usd() >= budget:
            return "over_budget"
        return None

    def endpoint(self, ref: ModelRef) -> Any:
        """The CloudEndpoint for `ref` (raises CloudNotConfigured with a hint when it cannot be built)."""
        from app.services.inference.cloud_backend import CloudEndpoint

        provider = self.providers.get(ref.provider)
        if provider is None:
            raise CloudNotConfigured(
                _("Lantern does not know the cloud provider '{provider}'.").format(provider=ref.provider),
                hint=_("Use one of {names}, or add it: cloud_providers = {{ {provider} = \"https://…/v1\" }} in the "
                       "settings file.").format(names=", ".join(sorted(self.providers)), provider=ref.provider))
        key = self.api_key(provider.name)
        if provider.needs_key and not key:
            raise CloudNotConfigured(
                _("No API key is stored for {provider}.").format(provider=provider.name),
                hint=_("Store one with `lantern auth cloud --provider {provider}`.").format(provider=provider.name))
        price = self.prices.get(ref)
        return CloudEndpoint(provider=provider.name, base_url=provider.base_url, model=ref.model, api_key=key,
                             context_length=price.context_window if price else 32_768)


def endpoint_key(ref: ModelRef) -> str:
    return ref.name


def build_cloud_setup(settings: LanternSettings, *, secrets: Any, offline: Callable[[], bool],
                      month_spent_usd: Callable[[], float] = lambda: 0.0,
                      breaker: CircuitBreaker | None = None) -> CloudSetup:
    from app.services.secrets import cloud_api_key

    def key(provider: str) -> str | None:
        return cloud_api_key(secrets, provider)

    roles = resolve_roles(default_tiers(), settings.tier, settings.roles)
    providers = parse_providers(_provider_table(), settings.cloud_providers)
    return CloudSetup(settings=settings, roles=roles, providers=providers, prices=default_prices(), api_key=key,
                      offline=offline, month_spent_usd=month_spent_usd, breaker=breaker)
