"""A server that echoes the credentials it was sent gets them nowhere: not in logs, the state DB,
Prefect's artifacts, states and logs, nor the CLI's output.

Token endpoints (and one 360Learning data endpoint) answer with the sandboxes' `echo` fault: an
OAuth-style error quoting the request's body and Authorization header, as careless servers do.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.sorting import FlowRunSort
from sqlalchemy import column, create_engine, inspect, select, table

from learnsync.core.redaction import MASK
from learnsync.flows.content_sync import content_sync
from tests.e2e.helpers import lms, run, store

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]

SECRETS = {
    "lms360": "s3cr3t-360-echo-7e6d5c4b",
    "udemy": "s3cr3t-udemy-echo-1a2b3c",
    "coursera": "s3cr3t-coursera-echo-4d5e6f",
    "coursera_refresh": "r3fr3sh-coursera-echo-7a8b9c",
    "edflex": "s3cr3t-edflex-echo-0d1e2f",
}
PROVIDERS = ["udemy", "coursera", "edflex"]
FLEET = {
    "providers": PROVIDERS,
    "configs": {
        "lms360": {"clients": {"learnsync-client": SECRETS["lms360"]}},
        "udemy": {"n_courses": 12, "n_activities": 0, "client_secret": SECRETS["udemy"]},
        "coursera": {"n_courses": 12, "n_activities": 0, "client_secret": SECRETS["coursera"], "refresh_token": SECRETS["coursera_refresh"]},
        "edflex": {"n_courses": 12, "n_activities": 0, "client_secret": SECRETS["edflex"]},
    },
}
# (sandbox, path of the endpoint that echoes, answer status, provider whose content sync meets it)
ECHOES = [
    ("edflex", r"/connect/v1/auth/token$", 401, "edflex"),  # form: client_id + client_secret
    ("coursera", r"/oauth2/v1/token$", 400, "coursera"),  # form: refresh_token + client_secret (legacy grant)
    ("lms360", r"/api/v2/oauth2/token$", 401, "udemy"),  # JSON: client_id + client_secret
    ("lms360", r"/api/v2/integrations$", 403, "udemy"),  # a data call: the bearer token comes back
]


async def _prefect_texts() -> str:
    """Everything Prefect's API holds about the runs: logs, artifacts, flow and task run states."""
    texts = []
    async with get_client() as client:
        for route, sort in (
            ("/logs/filter", "TIMESTAMP_ASC"), ("/artifacts/filter", "CREATED_DESC"),
            ("/flow_runs/filter", "ID_DESC"), ("/task_runs/filter", "ID_DESC"),
        ):
            offset = 0
            while True:
                page = await client._client.post(route, json={"limit": 200, "offset": offset, "sort": sort})
                page.raise_for_status()
                texts.append(page.text)
                if len(page.json()) < 200:
                    break
                offset += 200
        flow_runs = await client.read_flow_runs(limit=200, sort=FlowRunSort.ID_DESC)
        states = [f"{r.name}: {r.state.name if r.state else ''}: {r.state.message if r.state else ''}" for r in flow_runs]
        assert sum(r.state is not None and r.state.is_failed() for r in flow_runs) >= len(ECHOES)
    return "\n".join(texts + states)


def _state_db_texts() -> str:
    """Every text column of every table of the state DB, plus the raw file."""
    url = os.environ["LEARNSYNC_DATABASE_URL"]
    engine = create_engine(url)
    texts = []
    with engine.connect() as conn:
        for name in inspect(engine).get_table_names():
            columns = [c["name"] for c in inspect(engine).get_columns(name)]
            t = table(name, *(column(c) for c in columns))
            for row in conn.execute(select(t)):
                texts.extend(str(v) for v in row if v is not None)
    engine.dispose()
    raw = open(url.removeprefix("sqlite:///"), "rb").read().decode("latin-1")
    return "\n".join(texts) + raw


@pytest.mark.parametrize("fleet", [FLEET], indirect=True)
@pytest.mark.rule("RUN-13")
def test_credentials_echoed_by_a_server_are_masked_everywhere_learnsync_writes(fleet, monkeypatch, capfd, caplog):
    monkeypatch.setenv("LEARNSYNC_LMS360__CLIENT_SECRET", SECRETS["lms360"])
    for p in PROVIDERS:
        monkeypatch.setenv(f"LEARNSYNC_{p.upper()}__CLIENT_SECRET", SECRETS[p])
    monkeypatch.setenv("LEARNSYNC_COURSERA__REFRESH_TOKEN", SECRETS["coursera_refresh"])  # the legacy grant, on the sandbox
    monkeypatch.setenv("LEARNSYNC_COURSERA__REFRESH_TOKEN_URL", f"{fleet.url('coursera')}/oauth2/v1/token")
    caplog.set_level(logging.DEBUG)

    failures = []
    for sandbox, path, status, provider in ECHOES:
        rule = fleet.app(sandbox).state.faults.add("echo", path=path, status=status, times=None)
        with pytest.raises(Exception) as failure:
            run(content_sync(provider=provider))
        assert rule.fired >= 1, (sandbox, path)
        failures.append(failure.value)
        if path != ECHOES[-1][1]:
            fleet.app(sandbox).state.faults.clear()

    # The CLI meets the last echo too (360Learning quoting the bearer token), in its own process.
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value() or "", "COLUMNS": "200"}
    command = [sys.executable, "-c", "import sys; from learnsync.cli import app; sys.argv[0] = 'learnsync'; app()",
               "sync", "content", "-p", "udemy"]
    cli = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert cli.returncode != 0
    fleet.app("lms360").state.faults.clear()

    runs = store().list_runs(limit=50)
    errors = [r["error"] for r in runs if r["status"] == "failed"]
    assert len(errors) >= len(ECHOES) and all(MASK in e for e in errors[: len(ECHOES)]), errors  # it was echoed, then masked
    assert any("request rejected" in e for e in errors)

    out, err = capfd.readouterr()
    places = {
        "test process output": out + err,
        "log records": caplog.text,
        "exceptions": "\n".join(f"{f!s} {f!r}" for f in failures),
        "state DB": _state_db_texts(),
        "Prefect API": asyncio.run(_prefect_texts()),
        "CLI output": cli.stdout + cli.stderr,
    }
    assert "request rejected" in places["Prefect API"] and "request rejected" in places["CLI output"], cli.stderr[-2000:]
    tokens = lms(fleet).issued_tokens()
    assert tokens, "no bearer token was issued: the data-call echo never ran"
    for where, text in places.items():
        for name, secret in SECRETS.items():
            assert secret not in text, f"the {name} secret appears in the {where}"
        for token in tokens:
            assert token not in text, f"a 360Learning bearer token appears in the {where}"
