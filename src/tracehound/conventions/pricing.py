"""Cost provenance: keep a cost the span carries (`provided`), else price its tokens from the
`genai-prices` table (`computed`), else say it could not be priced (`unpriced`).

genai-prices is slow per call (about 0.4 ms to match a model name, 0.1 ms to apply a price),
and this runs on every ingested LLM span. So:
- model matching is cached per (model, provider), misses included;
- for a price without tiers, the table is asked once for the price of a million input, cached
  input and output tokens, and later spans reuse those rates. The sum is done in Decimal,
  exactly as genai-prices does it, so the result is the same number. Tiered prices (which
  depend on the prompt size) go through genai-prices every time.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache

from genai_prices import Usage
from genai_prices.data_snapshot import DataSnapshot, get_snapshot
from genai_prices.types import ModelInfo, ModelPrice, TieredPrices

from tracehound.model import Span

_MTOK = 1_000_000
_MTOK_DECIMAL = Decimal(_MTOK)

# (fixed per-request price, per-MTok input, cached input, output), or None when tiered.
_Rates = tuple[Decimal, Decimal, Decimal, Decimal]

_rates: dict[int, tuple[ModelPrice, _Rates | None]] = {}
_snapshot: DataSnapshot | None = None


def price_span(span: Span) -> None:
    if span.cost is not None:
        if span.cost_source is None:
            span.cost_source = "provided"
        return
    has_tokens = span.input_tokens is not None or span.output_tokens is not None
    if has_tokens and span.model:
        try:
            cost = compute_cost(
                span.model,
                span.provider,
                span.input_tokens or 0,
                span.cached_tokens or 0,
                span.output_tokens or 0,
                span.start_time_us,
            )
        except Exception:
            # A flaw in a third-party price table must never cost us the span.
            cost = None
        if cost is not None:
            span.cost = cost
            span.cost_source = "computed"
            span.rules["cost"] = "genai-prices"
            return
    if has_tokens or span.is_llm_call:
        span.cost_source = "unpriced"


def compute_cost(
    model: str, provider: str | None, input_tokens: int, cached_tokens: int, output_tokens: int, at_us: int
) -> float | None:
    """USD for one call, or None when the model is unknown or the price cannot be applied.
    `input_tokens` includes `cached_tokens`, as in the OTel GenAI and OpenInference conventions."""
    _check_snapshot()
    info = _find_model(model, provider)
    if info is None:
        return None
    if cached_tokens > input_tokens:
        # Only possible when the instrumentation reported input without the cache reads
        # (Anthropic's own `input_tokens`): the prompt was both together.
        input_tokens += cached_tokens
    try:
        # Most models have one price; only conditional ones need the call's timestamp.
        prices = info.prices
        model_price = prices if isinstance(prices, ModelPrice) else info.get_prices(_timestamp(at_us))
        rates = _rates_for(model_price)
        if rates is None:
            usage = Usage(
                input_tokens=input_tokens, cache_read_tokens=cached_tokens, output_tokens=output_tokens
            )
            total = model_price.calc_price(usage)["total_price"]
        else:
            fixed, per_input, per_cached, per_output = rates
            total = (
                fixed
                + (
                    per_input * (input_tokens - cached_tokens)
                    + per_cached * cached_tokens
                    + per_output * output_tokens
                )
                / _MTOK_DECIMAL
            )
    except (ArithmeticError, ValueError, TypeError, LookupError):
        return None
    cost = float(total)
    return cost if math.isfinite(cost) and cost >= 0.0 else None


def _check_snapshot() -> None:
    """genai-prices can swap in a fresher table at run time (UpdatePrices); drop what was
    cached from the old one."""
    global _snapshot
    current = get_snapshot()
    if current is not _snapshot:
        _find_model.cache_clear()
        _rates.clear()
        _snapshot = current


@lru_cache(maxsize=2048)
def _find_model(model: str, provider: str | None) -> ModelInfo | None:
    candidates: list[tuple[str, str | None]] = []
    if provider:
        candidates.append((model, provider))
    prefix, sep, rest = model.partition("/")
    if sep and prefix and rest:
        # vLLora and LiteLLM style `<provider>/<model>`.
        candidates.append((rest, prefix))
        if provider:
            candidates.append((rest, provider))
    # An unknown provider name (e.g. `gcp.gen_ai`) should not hide a model the table knows.
    candidates.append((model, None))
    if sep and rest:
        candidates.append((rest, None))
    snapshot = get_snapshot()
    for ref, provider_id in candidates:
        try:
            return snapshot.find_provider_model(ref, None, provider_id, None)[1]
        except (LookupError, ValueError):
            continue
    return None


def _rates_for(model_price: ModelPrice) -> _Rates | None:
    cached = _rates.get(id(model_price))
    # The entry keeps the ModelPrice alive, so its id cannot be reused by another object.
    if cached is not None and cached[0] is model_price:
        return cached[1]
    rates: _Rates | None = None
    if not any(isinstance(value, TieredPrices) for value in vars(model_price).values()):
        try:
            fixed = _total(model_price, Usage())
            rates = (
                fixed,
                _total(model_price, Usage(input_tokens=_MTOK)) - fixed,
                _total(model_price, Usage(input_tokens=_MTOK, cache_read_tokens=_MTOK)) - fixed,
                _total(model_price, Usage(output_tokens=_MTOK)) - fixed,
            )
        except (ArithmeticError, ValueError, TypeError, LookupError):
            # Left to genai-prices on every call, which decides whether it can be priced.
            rates = None
    _rates[id(model_price)] = (model_price, rates)
    return rates


def _total(model_price: ModelPrice, usage: Usage) -> Decimal:
    total: Decimal = model_price.calc_price(usage)["total_price"]
    return total


def _timestamp(at_us: int) -> datetime:
    """Prices change over time; use the ones in force when the call was made."""
    if at_us > 0:
        try:
            return datetime.fromtimestamp(at_us / 1_000_000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            pass
    return datetime.now(tz=UTC)
