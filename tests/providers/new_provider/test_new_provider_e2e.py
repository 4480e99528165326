"""A fifth provider is a folder and a line: a throw-away provider written in a temporary folder
(its package and its sandbox, nothing else), registered by LEARNSYNC_EXTRA_PROVIDERS, syncs its
catalog and its learners' activity to 360Learning through the real flows over real HTTP. The
README's "Add a provider" section gives the count of files this test had to create."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

from tests.e2e.helpers import lms, store
from tests.providers.new_provider.acme_files import FILES

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]
README = Path(__file__).resolve().parents[3] / "README.md"


@pytest.fixture
def acme(learnsync_env, tmp_path, monkeypatch):
    for relative, text in FILES.items():
        path = tmp_path / "acme" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.lstrip())
    monkeypatch.syspath_prepend(str(tmp_path / "acme"))
    monkeypatch.setenv("LEARNSYNC_EXTRA_PROVIDERS", "acme=acme_provider")
    from learnsync.sandboxes.fleet import start_fleet

    fleet = start_fleet(["acme"])
    for key, value in fleet.env().items():
        monkeypatch.setenv(key, value)
    yield fleet
    fleet.close()
    for name in [m for m in sys.modules if m.startswith(("acme_provider", "acme_sandbox"))]:
        del sys.modules[name]


def test_a_provider_written_in_a_folder_and_registered_by_one_line_syncs_catalog_and_statistics(acme):
    from learnsync.flows.content_sync import content_sync
    from learnsync.flows.stats_sync import stats_backfill
    from learnsync.providers.registry import provider_keys
    from learnsync.sandboxes.fleet import default_ports

    assert "acme" in provider_keys() and default_ports()["acme"] == 8199  # derived from its spec
    content = asyncio.run(content_sync(provider="acme", return_state=True))
    assert content.is_completed(), content.message
    assert content.result()["counts"]["created"] == 45, str(content.result())
    integration = store().get_integration("acme", "default")
    synced = {c["externalId"]: c for c in lms(acme).courses(integration["integration_id"])}
    assert len(synced) == 45 and synced["7"]["name"] == "Acme course 7" and synced["7"]["duration"] == 37 * 60

    from datetime import date

    stats = asyncio.run(stats_backfill(provider="acme", since=date(2026, 11, 1), until=date(2026, 12, 1), return_state=True))
    assert stats.is_completed(), stats.message
    attempts = lms(acme).attempts()
    # 80 activity rows over 45 courses and 50 learners: every (course, learner) pair is one attempt
    pairs = {(1 + i % 45, f"learner{1 + i % 50}@example.com") for i in range(80)}
    assert len(attempts) == len(pairs) == stats.result()["counts"]["created"]

    # Removing a course from the catalog archives it in 360Learning, as for every provider.
    acme.app("acme").state.store.courses.pop(0)
    again = asyncio.run(content_sync(provider="acme", return_state=True))
    assert again.result()["counts"]["archived"] == 1


def test_the_readme_gives_the_number_of_files_a_new_provider_needs():
    section = README.read_text().split("## Add a provider", 1)[1].split("\n## ", 1)[0]
    said = re.search(r"(\d+) files", section)
    assert said, "the README's 'Add a provider' section names the number of files"
    assert int(said.group(1)) == len(FILES), f"README says {said.group(1)} files; a new provider needs {len(FILES)}"
    assert "LEARNSYNC_EXTRA_PROVIDERS" in section and "providers/registry.py" in section
