"""Which model answers in which role: model references, providers and tiers (issue 17).

The seeds name four roles — DEFAULT, SIMPLE (simple questions), CODE and FALLBACK — each mapped by
configuration to a model written `local:<installed id or auto>` or `cloud:<provider>/<model>`.
A tier (free, pro, local, from resources/cloud/tiers.toml) is a full map; the `roles` setting
overrides single roles. Changing a model is configuration only: nothing here knows a model name.
Pure data and parsing; the files are read by app.services.cloud_config.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from app.core.errors import SettingsInvalid
from app.core.i18n import _

Role = Literal["default", "simple", "code", "fallback"]
ROLES: tuple[Role, ...] = get_args(Role)
AUTO = "auto"
NONE = "none"
_PROVIDER = re.compile(r"[a-z0-9][a-z0-9_.-]*")


@dataclass(frozen=True)
class ModelRef:
    """`local:<id|auto>` or `cloud:<provider>/<model>` (the model part may itself hold slashes:
    `cloud:openrouter/openai/gpt-4o-mini`)."""

    where: Literal["local", "cloud"]
    name: str  # installed id or "auto"; for cloud, "<provider>/<model>"

    @property
    def is_cloud(self) -> bool:
        return self.where == "cloud"

    @property
    def provider(self) -> str:
        return self.name.split("/", 1)[0] if self.is_cloud else ""

    @property
    def model(self) -> str:
        return self.name.split("/", 1)[1] if self.is_cloud else self.name

    def __str__(self) -> str:
        return f"{self.where}:{self.name}"


def parse_model_ref(text: str) -> ModelRef | None:
    """A reference from configuration; None for "none" (the role is left empty)."""
    value = text.strip()
    if value.lower() in (NONE, ""):
        return None
    where, sep, name = value.partition(":")
    where = where.lower()
    if not sep or where not in ("local", "cloud") or not name.strip():
        raise SettingsInvalid(
            _("'{value}' is not a model reference.").format(value=value),
            hint=_("Write local:<installed model id or auto> or cloud:<provider>/<model>, "
                   "e.g. local:auto or cloud:openai/gpt-4o-mini."))
    name = name.strip()
    if where == "cloud":
        provider, slash, model = name.partition("/")
        if not slash or not model or not _PROVIDER.fullmatch(provider):
            raise SettingsInvalid(
                _("'{value}' does not name a provider and a model.").format(value=value),
                hint=_("Write cloud:<provider>/<model>, e.g. cloud:openai/gpt-4o-mini; the provider is a "
                       "lower-case name from the providers table or the cloud_providers setting."))
    return ModelRef(where, name)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Provider:
    name: str
    base_url: str
    needs_key: bool = True
    keys_url: str | None = None


@dataclass(frozen=True)
class Tier:
    key: str
    title: str
    roles: Mapping[Role, ModelRef | None]
    reference: ModelRef | None  # the cloud model every answer's cost is compared against


@dataclass(frozen=True)
class ResolvedRoles:
    """The role map after the tier and the overrides; `sources[role]` says where each came from."""

    tier: Tier
    roles: Mapping[Role, ModelRef | None]
    sources: Mapping[Role, str]  # "tier" | "setting"

    def get(self, role: Role) -> ModelRef | None:
        return self.roles.get(role)

    @property
    def uses_cloud(self) -> bool:
        return any(ref is not None and ref.is_cloud for ref in self.roles.values())

    def to_dict(self) -> dict[str, Any]:
        return {"tier": self.tier.key, "tier_title": self.tier.title,
                "reference": None if self.tier.reference is None else str(self.tier.reference),
                "roles": {role: {"model": None if self.roles.get(role) is None else str(self.roles[role]),
                                 "where": _where_of(self.roles.get(role)), "from": self.sources[role]}
                          for role in ROLES}}


def _where_of(ref: ModelRef | None) -> str | None:
    return None if ref is None else ref.where


def parse_tiers(data: Mapping[str, Any], *, origin: str = "tiers.toml") -> dict[str, Tier]:
    tiers: dict[str, Tier] = {}
    raw = data.get("tier")
    if not isinstance(raw, Mapping) or not raw:
        raise SettingsInvalid(_("{origin} has no [tier.<name>] tables.").format(origin=origin),
                              hint=_("Reinstall Lantern."))
    for key, table in raw.items():
        if not isinstance(table, Mapping):
            raise SettingsInvalid(_("{origin}: tier '{key}' is not a table.").format(origin=origin, key=key),
                                  hint=_("Reinstall Lantern."))
        roles = {role: parse_model_ref(str(table.get(role, NONE))) for role in ROLES}
        reference = parse_model_ref(str(table.get("reference", NONE)))
        tiers[key] = Tier(key=key, title=str(table.get("title", key)), roles=roles, reference=reference)
    return tiers


def parse_providers(data: Mapping[str, Any], extra: Mapping[str, str] = ()) -> dict[str, Provider]:  # type: ignore[assignment]
    """The built-in table plus the user's `cloud_providers` setting (name → base URL; the user's win)."""
    providers: dict[str, Provider] = {}
    for name, table in (data.get("provider") or {}).items():
        providers[name] = Provider(name=name, base_url=str(table["base_url"]),
                                   needs_key=bool(table.get("needs_key", True)), keys_url=table.get("keys_url"))
    for name, url in dict(extra or {}).items():
        if not _PROVIDER.fullmatch(name):
            raise SettingsInvalid(
                _("'{name}' is not a valid provider name in cloud_providers.").format(name=name),
                hint=_("Use lower-case letters, digits, '-', '_' or '.'."))
        if not str(url).startswith(("http://", "https://")):
            raise SettingsInvalid(
                _("The base URL of provider '{name}' must start with http:// or https://.").format(name=name),
                hint=_("e.g. cloud_providers = {{ {name} = \"http://127.0.0.1:8000/v1\" }}").format(name=name))
        known = providers.get(name)
        providers[name] = Provider(name=name, base_url=str(url),
                                   needs_key=known.needs_key if known else False,
                                   keys_url=known.keys_url if known else None)
    return providers


def resolve_roles(tiers: Mapping[str, Tier], tier: str, overrides: Mapping[str, str]) -> ResolvedRoles:
    if tier not in tiers:
        raise SettingsInvalid(
            _("There is no tier called '{tier}'.").format(tier=tier),
            hint=_("Choose one of: {names} (setting `tier`).").format(names=", ".join(sorted(tiers))))
    base = tiers[tier]
    roles: dict[Role, ModelRef | None] = dict(base.roles)
    sources: dict[Role, str] = {role: "tier" for role in ROLES}
    for role, text in overrides.items():
        if role not in ROLES:
            raise SettingsInvalid(
                _("'{role}' is not a role.").format(role=role),
                hint=_("The roles are: {roles} (setting `roles`).").format(roles=", ".join(ROLES)))
        roles[role] = parse_model_ref(text)
        sources[role] = "setting"
    if roles.get("default") is None:
        raise SettingsInvalid(_("The default role has no model."),
                              hint=_("Set roles.default to local:auto or a cloud model."))
    return ResolvedRoles(tier=base, roles=roles, sources=sources)
