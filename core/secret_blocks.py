"""Settings given as `prefect-secret:BLOCK` are read from the Prefect Secret block BLOCK.

A deployment's job variables then hold only the block's name; the value is fetched by the flow
run from the Prefect API when its settings load, and is never written anywhere.
"""

from __future__ import annotations

from typing import Any

PREFIX = "prefect-secret:"


class SecretBlockError(RuntimeError):
    """A referenced Secret block is missing or unreadable (names the setting and the block)."""


def resolve_secret_references(data: Any, path: str = "") -> Any:
    """`data` (raw settings: nested dicts of strings) with every reference replaced by its value."""
    if isinstance(data, dict):
        return {
            k: resolve_secret_references(v, f"{path}__{str(k).upper()}" if path else f"LEARNSYNC_{str(k).upper()}")
            for k, v in data.items()
        }
    if isinstance(data, str) and data.startswith(PREFIX):
        return read_secret_block(data[len(PREFIX):].strip(), path)
    return data


def read_secret_block(name: str, setting: str) -> str:
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            doc = client.read_block_document_by_name(name=name, block_type_slug="secret", include_secrets=True)
    except Exception as exc:
        raise SecretBlockError(f"{setting}: Prefect Secret block {name!r} could not be read ({type(exc).__name__})") from None
    value = (doc.data or {}).get("value")
    if value is None:
        raise SecretBlockError(f"{setting}: Prefect Secret block {name!r} holds no value")
    return value if isinstance(value, str) else str(value)
