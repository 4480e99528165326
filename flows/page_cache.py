"""How catalog chunks are cached for a flow run's retries: their key and their serializer."""

from __future__ import annotations

import base64
from typing import Any

import cloudpickle
from prefect.runtime import flow_run
from prefect.serializers import Serializer


def chunk_cache_key(context: Any, params: dict[str, Any]) -> str:
    """Small explicit key (never the client, the gate or a DataFrame): a retry of the same flow
    run reuses the pages it already fetched; a new run reads the catalog afresh. `tokens` (the
    announced pages of a concurrent chunk) is keyed by its length: the head chunk fixed them."""
    tokens = params.get("tokens")
    shape = "seq" if tokens is None else f"{len(tokens)}p"
    return "catalog-chunk|{provider}|{platform}|{stream}|{token}|{shape}|{run}".format(
        run=flow_run.id or "local", shape=shape, provider=params["provider"], platform=params["platform"],
        stream=params["stream"], token=params["token"],
    )


class ChunkSerializer(Serializer):
    """cloudpickle in one-line base64.

    Prefect's pickle serializer wraps base64 in 76-character lines (`encodebytes`), four times
    slower than `b64encode` on the megabytes of page bodies a catalog chunk holds.
    """

    type: str = "learnsync-chunk"

    def dumps(self, obj: Any) -> bytes:
        return base64.b64encode(cloudpickle.dumps(obj))

    def loads(self, blob: bytes) -> Any:
        return cloudpickle.loads(base64.b64decode(blob))
