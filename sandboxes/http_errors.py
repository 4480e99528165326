"""Error bodies shared by several sandboxes (each provider's own shape stays in its app)."""

from __future__ import annotations

from fastapi.responses import JSONResponse


def oauth_error(status: int, code: str, description: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """RFC 6749 section 5.2 shape: `{"error": code, "error_description": description}`."""
    return JSONResponse({"error": code, "error_description": description}, status_code=status, headers=headers)
