"""Mapped catalog chunks kept between runs: pages served unchanged are not parsed, mapped or
hashed again.

What a chunk of catalog pages becomes before the plan (its prepared extract, its quarantined and
ignored rows, the keys of its records) is a pure function of the pages' bodies, the mapping
context and the code. The state store keeps it per (integration, stream, chunk key) with the
pages' body digests. When a walk reads the same bodies again under the same context key, the
chunk is taken from the store: the plan sees exactly the rows mapping the pages would give, and
decides against the stored courses as always (a course whose sync failed is still re-sent).

The context key covers the provider, the stream, the owner language, the integration options
and a fingerprint of the code (every module of learnsync's packages, and the versions of Python
and the libraries that parse and map), so a rule changed by an upgrade maps every page afresh. A stored chunk that cannot be read back is mapped again; it is a cache, never state.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import pickle
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from learnsync.providers.base import MappingContext

log = logging.getLogger(__name__)

HEAD_CHUNK = ""  # chunk key of the chunk that starts at page 1 (no token)


@dataclass
class PreparedChunk:
    """A chunk of pages ready for the plan."""

    extract: pd.DataFrame  # tasks.diff.prepare_extract rows, in page order
    quarantine: pd.DataFrame
    ignored: pd.DataFrame
    record_keys: list[str]  # tasks.extract.record_keys of the raw records (completeness check)
    records: int  # raw records the pages held
    truncated: int = 0  # descriptions cut to the contract's limit (tasks/course_contract.py)


def encode(chunk: PreparedChunk) -> bytes:
    """zlib(pickle): exact round trip of the frames (dtypes, None vs NaN, nested lists and dicts)."""
    state = {
        "extract": chunk.extract, "quarantine": chunk.quarantine, "ignored": chunk.ignored,
        "record_keys": chunk.record_keys, "records": chunk.records, "truncated": chunk.truncated,
    }
    return zlib.compress(pickle.dumps(state, protocol=5), 1)


def decode(blob: bytes) -> PreparedChunk:
    # The blob comes from our own state store (written by `encode`), as trusted as the code.
    return PreparedChunk(**pickle.loads(zlib.decompress(blob)))


# Every package a mapped chunk can depend on: the provider's client (parsing), models and mapping,
# what they import (languages, contract types, HTTP decoding) and the engine's preparation. All of
# their modules are hashed, not a hand-picked list: an import added later is covered too.
FINGERPRINTED_PACKAGES = (
    "learnsync.core", "learnsync.providers", "learnsync.lms360", "learnsync.tasks", "learnsync.statestore", "learnsync.flows",
)
FINGERPRINTED_LIBRARIES = ("pandas", "numpy", "pyarrow", "pydantic", "pydantic_core", "httpx")


def _outside_packages() -> tuple[str, ...]:
    """The top-level packages of providers registered from outside learnsync."""
    from learnsync.providers.registry import provider_modules

    return tuple(sorted({m.split(".")[0] for m in provider_modules().values() if not m.startswith("learnsync.")}))


def fingerprinted_files(outside: tuple[str, ...] | None = None) -> list[Path]:
    """The source files the code fingerprint covers (with the packages of outside providers)."""
    import importlib

    files: list[Path] = []
    for name in (*FINGERPRINTED_PACKAGES, *(_outside_packages() if outside is None else outside)):
        root = Path(importlib.import_module(name).__file__).resolve().parent  # type: ignore[arg-type]
        files.extend(sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts))
    return files


def code_fingerprint() -> str:
    """Digest of the code and libraries a mapped chunk depends on."""
    return _fingerprint(_outside_packages())


@functools.lru_cache(maxsize=4)
def _fingerprint(outside: tuple[str, ...]) -> str:
    import importlib.metadata

    digest = hashlib.sha256()
    for path in fingerprinted_files(outside):
        digest.update(str(path.name).encode() + b"\0" + path.read_bytes() + b"\0")
    versions = [sys.version]
    for library in FINGERPRINTED_LIBRARIES:
        try:
            versions.append(f"{library}={importlib.metadata.version(library.replace('_', '-'))}")
        except importlib.metadata.PackageNotFoundError:  # pragma: no cover - optional library
            versions.append(f"{library}=absent")
    digest.update("|".join(versions).encode())
    return digest.hexdigest()


def context_key(provider: str, stream: str, ctx: MappingContext) -> str:
    """What a chunk's mapping depends on besides its page bodies (catalog mappings read no clock)."""
    context = {
        "provider": provider, "stream": stream, "owner_lang": ctx.owner_lang,
        "options": ctx.options, "code": code_fingerprint(),
    }
    return hashlib.sha256(json.dumps(context, sort_keys=True, default=str).encode()).hexdigest()


class MappedChunkCache:
    """One stream's stored chunks, for one run. `writable=False` (dry runs) only reads."""

    def __init__(self, store: Any, integration_pk: int, stream: str, context: str, *, writable: bool = True) -> None:
        self._store, self._pk, self._stream, self._context = store, integration_pk, stream, context
        self._writable = writable
        self._index = {
            key: entry for key, entry in store.mapped_chunk_index(integration_pk, stream).items()
            if entry["context_key"] == context
        }
        self.reused = 0  # chunks taken from the store this run
        self.mapped = 0  # chunks mapped this run

    def known_pages(self) -> dict[str, str | None]:
        """{body digest: next page token} of the stored pages: a client may leave such a page unparsed."""
        return {digest: next_token for entry in self._index.values() for digest, next_token in entry["pages"]}

    def lookup(self, chunk_key: str, digests: list[str | None]) -> PreparedChunk | None:
        """The stored chunk when its pages are these bodies, in this order; else None."""
        entry = self._index.get(chunk_key)
        if entry is None or None in digests or [d for d, _ in entry["pages"]] != digests:
            return None
        blob = self._store.mapped_chunk(self._pk, self._stream, chunk_key)
        try:
            chunk = decode(blob) if blob is not None else None
        except Exception as exc:  # an unreadable cache entry is mapped again, never trusted
            log.warning("stored mapping of %s chunk %r unreadable (%s): mapping its pages again", self._stream, chunk_key, type(exc).__name__)
            chunk = None
        if chunk is not None:
            self.reused += 1
        return chunk

    def save(self, chunk_key: str, digests: list[str | None], next_tokens: list[str | None], chunk: PreparedChunk) -> None:
        """Keep a freshly mapped chunk (pages without a digest cannot be recognised: not kept)."""
        self.mapped += 1
        if not self._writable or None in digests or not digests:
            return
        pages = [[d, t] for d, t in zip(digests, next_tokens)]
        self._store.save_mapped_chunk(self._pk, self._stream, chunk_key, pages, self._context, encode(chunk))
        self._index[chunk_key] = {"pages": pages, "context_key": self._context}

    def prune(self, visited: set[str]) -> None:
        """After a complete walk: drop the chunks of pages the catalog no longer has."""
        if self._writable:
            self._store.prune_mapped_chunks(self._pk, self._stream, visited)
