"""Response and body models of the calls vLLora's web UI makes besides the trace API
(routes_ui.py): what a trace backend with no gateway, no data agent and no provider
credentials truthfully answers."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr


class Empty(BaseModel):
    """`{}`: nothing stored, nothing configured."""

    model_config = ConfigDict(extra="forbid")


class SessionTrack(BaseModel):
    """The UI's login page reports the email typed in; tracehound keeps none of it."""

    model_config = ConfigDict(extra="ignore")
    # The longest address RFC 5321 allows.
    email: StrictStr = Field(max_length=320, description="Accepted and not stored")


class PendingBreakpoint(BaseModel):
    breakpoint_id: str
    request: dict[str, Any] = Field(description="The intercepted request, in vLLora's gateway")


class Breakpoints(BaseModel):
    breakpoints: list[PendingBreakpoint] = Field(
        description="Always empty: tracehound is no gateway, so no request is ever paused"
    )
    intercept_all: bool = Field(description="Always false")
