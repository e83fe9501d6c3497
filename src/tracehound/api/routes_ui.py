"""The calls vLLora's web UI makes on its login, home, projects, threads, traces and analytics
pages besides the trace API. tracehound has no gateway to pause, no saved data-agent settings, no
provider credentials and no model catalogue, and says so in vLLora's shapes, so that every page
loads without a failed request (docs/compat.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from tracehound.api.responses import JSONResponse
from tracehound.api.schemas import ERRORS
from tracehound.api.schemas_ui import Breakpoints, Empty, SessionTrack

router = APIRouter(tags=["vLLora UI"])


@router.post(
    "/session/track",
    response_model=Empty,
    responses=ERRORS,
    summary="Accept the UI's login tracking; store nothing",
)
def track_session(body: SessionTrack) -> JSONResponse:
    del body  # validated, then dropped: tracehound keeps no record of who logged in
    return JSONResponse({})


@router.get(
    "/debug/breakpoints",
    response_model=Breakpoints,
    responses=ERRORS,
    summary="Paused requests: none, tracehound has no gateway",
)
def list_breakpoints() -> JSONResponse:
    return JSONResponse({"breakpoints": [], "intercept_all": False})


@router.get(
    "/agents/config",
    response_model=Empty,
    responses=ERRORS,
    summary="Saved data-agent configuration: none",
)
def agents_config() -> JSONResponse:
    return JSONResponse({})


@router.get(
    "/providers",
    response_model=list[dict[str, Any]],
    responses=ERRORS,
    summary="Model providers with credentials: none, tracehound holds no credentials",
)
def list_providers() -> JSONResponse:
    return JSONResponse([])


@router.get(
    "/v1/pricing",
    response_model=list[dict[str, Any]],
    responses=ERRORS,
    summary="The gateway's model catalogue: empty",
    description="tracehound prices calls from the genai-prices table but serves no model catalogue "
    "in the UI's shape (docs/compat.md says why), so the list is empty.",
)
def pricing(
    include_parameters: bool | None = Query(None, description="Accepted; there is nothing to include"),
    include_benchmark: bool | None = Query(None, description="Accepted; there is nothing to include"),
) -> JSONResponse:
    return JSONResponse([])
