"""One recorded set of end-to-end runs per test module, validated against the OpenAPI documents."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.contract.openapi_contract import Contract, next_links

FAST_RETRIES = '{"attempts": 6, "base_wait": 0.01, "max_wait": 0.2, "jitter": 0.1, "retry_after_cap": 2.0}'


@pytest.fixture(scope="session")
def contract() -> Contract:
    return Contract()


@dataclass
class Verdict:
    """Every recorded exchange, checked: what was invalid, and why."""

    exchanges: int = 0
    requests_invalid: list[tuple[str, list[str]]] = field(default_factory=list)
    responses_invalid: list[tuple[str, list[str]]] = field(default_factory=list)
    undefined: list[str] = field(default_factory=list)
    endpoints: set[str] = field(default_factory=set)  # "METHOD template" exercised
    bulk_items: int = 0

    def summary(self) -> str:
        return (
            f"{self.exchanges} requests and responses validated; {len(self.requests_invalid)} invalid requests, "
            f"{len(self.responses_invalid)} invalid responses, {len(self.undefined)} calls to undefined endpoints"
        )


def judge(contract: Contract, exchanges: list[Any]) -> Verdict:
    verdict = Verdict(exchanges=len(exchanges))
    links: set[str] = set()
    for ex in exchanges:
        label = f"{ex.method} {ex.url} -> {ex.status}"
        followed = any(link.endswith(ex.url) for link in links)
        problems = contract.check_request(ex.method, ex.path, ex.query, ex.request_headers, ex.request_body, followed_link=followed)
        found = contract.find(ex.method, ex.path)
        if found is None:
            verdict.undefined.append(f"{ex.method} {ex.path}")
        else:
            verdict.endpoints.add(f"{ex.method} {found[0].template}")
            if problems:
                verdict.requests_invalid.append((label, problems))
            answer = contract.check_response(ex.method, ex.path, ex.status, ex.response_headers, ex.response_body)
            if answer:
                verdict.responses_invalid.append((label, answer))
        if ex.path.startswith("/api/v2/bulk/") and ex.method != "GET" and ex.request_body:
            import json

            try:
                verdict.bulk_items += len(json.loads(ex.request_body).get("input", []))
            except (ValueError, AttributeError):
                pass
        links.update(next_links(ex.response_headers))
    return verdict


@pytest.fixture(scope="module")
def contract_env(tmp_path_factory):
    """learnsync_env for a whole module: a fresh state DB, fast polls and retries."""
    tmp = tmp_path_factory.mktemp("contract")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LEARNSYNC_DATABASE_URL", f"sqlite:///{tmp / 'state.db'}")
        mp.setenv("LEARNSYNC_LMS360__POLL_INTERVAL_SECONDS", "0.02")
        mp.setenv("LEARNSYNC_LMS360__POLL_MAX_INTERVAL_SECONDS", "0.2")
        mp.setenv("LEARNSYNC_LMS360__BULK_SUBMIT_PATIENCE_SECONDS", "2")
        mp.setenv("LEARNSYNC_LMS360__BULK_WAIT_TIMEOUT_SECONDS", "60")
        mp.setenv("LEARNSYNC_LMS360__RETRY", FAST_RETRIES)
        for p in ("UDEMY", "COURSERA", "EDFLEX", "OPENCLASSROOMS"):
            mp.setenv(f"LEARNSYNC_{p}__RETRY", FAST_RETRIES)
        yield mp


def breakdown(found: list[tuple[str, list[str]]]) -> dict[str, int]:
    """Invalid exchanges per 'METHOD /path-shape: first problem' (ids folded), for reports."""
    import re
    from collections import Counter

    out: Counter[str] = Counter()
    for label, problems in found:
        shape = re.sub(r"[0-9a-f]{24}|SKI\w{18}", "{id}", label.split("?")[0])
        out[f"{shape}: {re.sub(r'[0-9a-f]{24}', '{id}', problems[0])[:140]}"] += 1
    return dict(out)
