"""Cloud model prices as data (resources/pricing/cloud_models.toml) and what an answer costs.

Each price carries its source and the date it took effect, so a stale figure is visible. A model
with no known price costs `None` ("unknown"), never 0: the savings ledger must not invent savings.
On-device answers cost 0, or the energy they used when the learner gives an electricity price and
the watts this machine draws (both off by default).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.core.errors import CatalogInvalid
from app.core.i18n import _
from app.core.model_roles import ModelRef


@dataclass(frozen=True)
class ModelPrice:
    provider: str
    model: str
    input_per_mtok: float   # USD per million prompt tokens
    output_per_mtok: float  # USD per million completion tokens
    context_window: int
    source: str
    as_of: str              # YYYY-MM-DD the price took effect

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return (tokens_in * self.input_per_mtok + tokens_out * self.output_per_mtok) / 1_000_000


class PriceTable:
    def __init__(self, prices: list[ModelPrice]) -> None:
        self._by_name = {(p.provider, p.model): p for p in prices}

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_name.values())

    def get(self, ref: ModelRef | None) -> ModelPrice | None:
        if ref is None or not ref.is_cloud:
            return None
        return self._by_name.get((ref.provider, ref.model))

    def cost(self, ref: ModelRef | None, tokens_in: int, tokens_out: int) -> float | None:
        """USD for these tokens on `ref`: 0 for an on-device model, None when the price is unknown."""
        if ref is not None and not ref.is_cloud:
            return 0.0
        price = self.get(ref)
        return None if price is None else price.cost(tokens_in, tokens_out)


def local_energy_cost(seconds: float, *, watts: float | None, price_kwh: float | None) -> float:
    """Electricity for `seconds` of answering: watts × hours / 1000 × price per kWh (0 unless both are set)."""
    if not watts or price_kwh is None:
        return 0.0
    return watts * seconds / 3600 / 1000 * price_kwh


def parse_price_table(data: Mapping[str, Any], *, origin: str = "cloud_models.toml") -> PriceTable:
    prices: list[ModelPrice] = []
    for n, row in enumerate(data.get("model") or [], start=1):
        try:
            price = ModelPrice(provider=str(row["provider"]), model=str(row["model"]),
                               input_per_mtok=float(row["input_per_mtok"]),
                               output_per_mtok=float(row["output_per_mtok"]),
                               context_window=int(row["context_window"]), source=str(row["source"]),
                               as_of=str(row["as_of"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise CatalogInvalid(_("{origin}: price entry {n} is incomplete ({exc}).").format(
                origin=origin, n=n, exc=exc), hint=_("Each entry needs provider, model, input_per_mtok, "
                                                     "output_per_mtok, context_window, source and as_of.")) from exc
        if price.input_per_mtok < 0 or price.output_per_mtok < 0 or price.context_window <= 0:
            raise CatalogInvalid(_("{origin}: price entry {n} has a negative price or no context window.").format(
                origin=origin, n=n), hint=_("Fix the entry."))
        prices.append(price)
    return PriceTable(prices)
