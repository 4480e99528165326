"""Stored chunk mappings (tasks/mapped_chunks.py): exact round trip, keyed by bodies and context."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from learnsync.providers.base import MappingContext
from learnsync.statestore.store import StateStore
from learnsync.tasks import mapped_chunks
from learnsync.tasks.diff import prepare_extract
from learnsync.tasks.extract import completeness, record_keys
from learnsync.tasks.mapped_chunks import MappedChunkCache, PreparedChunk, context_key, decode, encode


def chunk(n: int = 3) -> PreparedChunk:
    mapped = pd.DataFrame(
        {
            "externalId": [str(i) for i in range(n)],
            "name": [f"Course {i}" for i in range(n)],
            "duration": pd.array([10, None, 30][:n], dtype="Int64"),
            "description": [None, "<p>x</p>", np.nan][:n],
            "subjects": [["Data"], [], ["A", "B"]][:n],
            "_tags": [["t"], [], None][:n],
            "_extra": [{"authors": ["Ana"]}, {}, {"n": 1.5}][:n],
            "_status": ["keep", "archive", "keep"][:n],
        }
    )
    return PreparedChunk(
        extract=prepare_extract(mapped),
        quarantine=pd.DataFrame({"external_id": ["9"], "field": ["title"], "reason": ["missing"]}),
        ignored=pd.DataFrame(columns=["external_id", "reason"]),
        record_keys=[str(i) for i in range(n)] + ["9"],
        records=n + 1,
    )


@pytest.fixture
def store(tmp_path) -> StateStore:
    return StateStore(f"sqlite:///{tmp_path / 'state.db'}")


@pytest.fixture
def integration(store: StateStore) -> int:
    return store.upsert_integration("udemy", external_platform="Udemy", group_id="g", author_id="a")["id"]


@pytest.mark.rule("RUN-07")
def test_a_stored_chunk_comes_back_exactly_as_mapped():
    original = chunk()
    back = decode(encode(original))
    pd.testing.assert_frame_equal(back.extract, original.extract)
    pd.testing.assert_frame_equal(back.quarantine, original.quarantine)
    assert back.record_keys == original.record_keys and back.records == 4
    assert back.extract.at[1, "f:duration"] is pd.NA
    # not only equal: the same Python types cell by cell (None stays None, NaN stays NaN)
    for column in original.extract.columns:
        assert [type(v) for v in back.extract[column]] == [type(v) for v in original.extract[column]], column
    assert list(back.extract.dtypes) == list(original.extract.dtypes)


@pytest.mark.rule("RUN-07")
def test_context_key_follows_everything_a_catalog_mapping_reads_besides_the_pages(monkeypatch):
    ctx = MappingContext(owner_lang="en", options={"tags_sync": False})
    key = context_key("udemy", "courses", ctx)
    assert key == context_key("udemy", "courses", MappingContext(owner_lang="en", options={"tags_sync": False}))
    assert key != context_key("udemy", "learning_paths", ctx)
    assert key != context_key("coursera", "courses", ctx)
    assert key != context_key("udemy", "courses", MappingContext(owner_lang="fr", options={"tags_sync": False}))
    assert key != context_key("udemy", "courses", MappingContext(owner_lang="en", options={"tags_sync": True}))
    monkeypatch.setattr(mapped_chunks, "code_fingerprint", lambda: "other code")
    assert key != context_key("udemy", "courses", ctx)


@pytest.mark.rule("RUN-07")
def test_code_fingerprint_covers_the_provider_mappings_and_the_diff():
    fingerprint = mapped_chunks.code_fingerprint()
    assert len(fingerprint) == 64 and fingerprint == mapped_chunks.code_fingerprint()


def _project_imports(path: Path, roots: set[str]) -> set[str]:
    """Modules of the project a source file imports (absolute imports, any depth of the tree)."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
        found.update(n for n in names if n.split(".")[0] in roots)
    return found


def test_code_fingerprint_covers_every_module_a_provider_mapping_imports_transitively():
    """A change anywhere a mapping reads from (e.g. the v2 language list in lms360/models.py)
    must map unchanged pages afresh: the whole import closure of every provider is fingerprinted."""
    import importlib

    from learnsync.providers.registry import provider_modules

    covered = {p.resolve() for p in mapped_chunks.fingerprinted_files()}
    roots = {"learnsync"}
    todo = list(provider_modules().values()) + ["learnsync.tasks.diff", "learnsync.tasks.extract"]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            module = importlib.import_module(name)
        except ImportError:  # `from package import name` of a function, not a module
            continue
        path = Path(module.__file__).resolve()
        assert path in covered, f"{name} ({path}) is read by a mapping but not fingerprinted"
        todo.extend(_project_imports(path, roots))
    assert "learnsync.providers.kit.languages" in seen  # the language list the mappings validate against


def test_a_stored_chunk_is_reused_only_for_the_same_bodies_in_the_same_order(store, integration):
    cache = MappedChunkCache(store, integration, "courses", "ctx")
    cache.save("2", ["a", "b"], ["3", "4"], chunk())
    assert cache.mapped == 1
    again = MappedChunkCache(store, integration, "courses", "ctx")
    assert again.known_pages() == {"a": "3", "b": "4"}
    assert again.lookup("2", ["a", "c"]) is None
    assert again.lookup("2", ["b", "a"]) is None
    assert again.lookup("2", ["a"]) is None
    assert again.lookup("12", ["a", "b"]) is None
    assert again.lookup("2", ["a", None]) is None
    hit = again.lookup("2", ["a", "b"])
    assert hit is not None and hit.records == 4 and again.reused == 1
    # other context (owner language, options, code), other stream, other integration: nothing known
    assert MappedChunkCache(store, integration, "courses", "other").known_pages() == {}
    assert MappedChunkCache(store, integration, "courses", "other").lookup("2", ["a", "b"]) is None
    assert MappedChunkCache(store, integration, "learning_paths", "ctx").known_pages() == {}


def test_a_chunk_is_replaced_when_its_pages_change_and_pages_without_digest_are_not_kept(store, integration):
    cache = MappedChunkCache(store, integration, "courses", "ctx")
    cache.save("2", ["a", "b"], ["3", None], chunk())
    cache.save("2", ["a", "z"], ["3", None], chunk(2))
    cache.save("12", ["c", None], ["13", None], chunk())
    again = MappedChunkCache(store, integration, "courses", "ctx")
    assert again.lookup("2", ["a", "b"]) is None
    assert again.lookup("2", ["a", "z"]).records == 3
    assert set(store.mapped_chunk_index(integration, "courses")) == {"2"}


@pytest.mark.rule("RUN-07")
def test_an_unreadable_stored_chunk_is_mapped_again(store, integration, caplog):
    store.save_mapped_chunk(integration, "courses", "2", [["a", None]], "ctx", b"not a mapped chunk")
    cache = MappedChunkCache(store, integration, "courses", "ctx")
    with caplog.at_level(logging.WARNING):
        assert cache.lookup("2", ["a"]) is None
    assert "mapping its pages again" in caplog.text and cache.reused == 0


def test_a_read_only_cache_stores_nothing_and_prune_forgets_pages_gone(store, integration):
    MappedChunkCache(store, integration, "courses", "ctx", writable=False).save("2", ["a"], [None], chunk())
    assert store.mapped_chunk_index(integration, "courses") == {}
    cache = MappedChunkCache(store, integration, "courses", "ctx")
    for key in ("", "2", "12"):
        cache.save(key, [key + "d"], [None], chunk())
    cache.prune({"", "2"})
    assert set(store.mapped_chunk_index(integration, "courses")) == {"", "2"}


def test_record_keys_are_text_so_chunks_add_up_whatever_the_id_type():
    assert record_keys([{"id": 1}, {"id": 2}, {"id": 1}]) == {"1", "2"}
    assert record_keys([{"id": "a"}, {"id": "b"}]) == {"a", "b"}
    assert record_keys([{"id": 1}, {"title": "no id"}]) == {"1", repr([("title", "no id")])}
    keys = record_keys([{"id": 1}, {"id": 2}]) | record_keys([{"id": "2"}, {"id": 3}])
    assert completeness(keys, 3) is None and completeness(keys, 4) == "read 3 distinct records where the provider announced 4"
