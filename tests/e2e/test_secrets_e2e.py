"""Nothing leaks: secrets, refresh tokens and bearer tokens never appear in any output of a full run."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client

from learnsync.flows.content_sync import content_sync
from learnsync.flows.stats_sync import stats_sync
from tests.e2e.helpers import lms, run

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]

SECRETS = {
    "lms360": "s3cr3t-360-9f8e7d6c5b4a",
    "udemy": "s3cr3t-udemy-0a1b2c3d4e",
    "coursera": "s3cr3t-coursera-5f6a7b8c",
    "coursera_refresh": "r3fr3sh-coursera-1d2e3f4a",
    "edflex": "s3cr3t-edflex-9a8b7c6d",
    "openclassrooms": "s3cr3t-oc-2b3c4d5e6f",
}
PROVIDERS = ["udemy", "coursera", "edflex", "openclassrooms"]
FLEET = {
    "providers": PROVIDERS,
    "configs": {
        "lms360": {"clients": {"learnsync-client": SECRETS["lms360"]}},
        "udemy": {"n_courses": 40, "n_activities": 120, "client_secret": SECRETS["udemy"]},
        "coursera": {"n_courses": 40, "n_activities": 120, "client_secret": SECRETS["coursera"], "refresh_token": SECRETS["coursera_refresh"]},
        "edflex": {"n_courses": 40, "n_activities": 120, "client_secret": SECRETS["edflex"]},
        "openclassrooms": {"n_courses": 40, "n_activities": 120, "client_secret": SECRETS["openclassrooms"]},
    },
}
LEARNER = re.compile(r"\b(learner|ghost)\d+@example\.com", re.I)


async def _prefect_logs_and_artifacts() -> str:
    texts = []
    async with get_client() as client:
        for route, sort in (("/logs/filter", "TIMESTAMP_ASC"), ("/artifacts/filter", "CREATED_DESC"), ("/flow_runs/filter", "ID_DESC")):
            offset = 0
            while True:
                page = await client._client.post(route, json={"limit": 200, "offset": offset, "sort": sort})
                texts.append(page.text)
                if len(page.json()) < 200:
                    break
                offset += 200
    return "\n".join(texts)


@pytest.mark.parametrize("fleet", [FLEET], indirect=True)
@pytest.mark.rule("RUN-13")
def test_secrets_and_tokens_never_appear_in_logs_reprs_artifacts_errors_or_state(fleet, monkeypatch, capfd, caplog):
    monkeypatch.setenv("LEARNSYNC_LMS360__CLIENT_SECRET", SECRETS["lms360"])
    for p in PROVIDERS:
        monkeypatch.setenv(f"LEARNSYNC_{p.upper()}__CLIENT_SECRET", SECRETS[p])
    # The legacy refresh-token grant (its token endpoint, on the accounts host in production, is the sandbox here).
    monkeypatch.setenv("LEARNSYNC_COURSERA__REFRESH_TOKEN", SECRETS["coursera_refresh"])
    monkeypatch.setenv("LEARNSYNC_COURSERA__REFRESH_TOKEN_URL", f"{fleet.url('coursera')}/oauth2/v1/token")
    caplog.set_level(logging.DEBUG)
    # A token expiry and a failing call make the error paths speak too.
    fleet.app("lms360").state.faults.add("status", status=401, path="/api/v2/integrations", times=1)
    reports = []
    for provider in PROVIDERS:
        reports.append(run(content_sync(provider=provider)))
        lms(fleet).expire_tokens()
        reports.append(run(stats_sync(provider=provider)))
    assert all(r["counts"]["created"] > 0 for r in reports)
    # A failing run's exception and logs must not carry the secrets either.
    monkeypatch.setenv("LEARNSYNC_UDEMY__CLIENT_SECRET", SECRETS["udemy"] + "-wrong")
    with pytest.raises(Exception) as failure:
        run(content_sync(provider="udemy"))

    from learnsync.flows.runtime import Runtime
    from learnsync.providers.settings import load_settings

    rt = Runtime.build("coursera")
    reprs = repr(load_settings()) + str(load_settings()) + repr(rt.lms_client()) + repr(rt.provider_client())
    out, err = capfd.readouterr()
    captured = "\n".join(
        [out, err, caplog.text, str(failure.value), repr(failure.value), reprs, str(reports), asyncio.run(_prefect_logs_and_artifacts())]
    )
    state_db = Path(os.environ["LEARNSYNC_DATABASE_URL"].removeprefix("sqlite:///")).read_bytes().decode("latin-1")
    issued = lms(fleet).issued_tokens()
    assert len(issued) >= 2 and len(captured) > 10_000  # renewals happened; there is output to search
    for name, secret in SECRETS.items():
        assert secret not in captured, f"{name} secret leaked into run output"
        assert secret not in state_db, f"{name} secret stored in the state DB"
    for token in issued:
        assert token not in captured and token not in state_db
    assert not re.search(r"Bearer\s+[A-Za-z0-9._-]{20,}", captured), "a bearer token leaked"
    # Learner e-mails are not written to logs (reports mask them).
    logs_only = "\n".join([out, err, caplog.text])
    assert not LEARNER.search(logs_only), LEARNER.search(logs_only)
