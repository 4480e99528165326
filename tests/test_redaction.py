"""learnsync.core.redaction: the secrets of the process are masked in every spelling a server echoes."""

from __future__ import annotations

import base64
import logging
from urllib.parse import quote_plus

import httpx
import pytest
from pydantic import SecretStr

from learnsync.core import redaction
from learnsync.core.http import FAST_RETRY, ApiError, send
from learnsync.core.redaction import MASK, redact, register, register_settings, scrubbed
from learnsync.core.settings import Lms360Settings
from learnsync.providers.settings import Settings
from learnsync.statestore.store import StateStore
from learnsync.tasks.report import RunReport

SECRET = "Zq9+v/s3cr3t&x=1"  # characters that URL and JSON encodings change


def test_every_secretstr_of_the_settings_is_masked_in_every_spelling():
    settings = Settings(
        lms360=Lms360Settings(client_secret=SECRET),
        platforms={"eu": Lms360Settings(platform="eu", client_secret="eu-platform-secret-42")},
    )
    settings.coursera.refresh_token = SecretStr("coursera-refresh-77")
    register_settings(settings)
    basic = base64.b64encode(f"learnsync-client:{SECRET}".encode()).decode()
    for spelling in (SECRET, quote_plus(SECRET), SECRET.replace("/", "\\/"), basic, "eu-platform-secret-42", "coursera-refresh-77"):
        masked = redact(f"server said: {spelling}!")
        assert spelling not in masked and MASK in masked, spelling
    assert redact('{"client_secret": "' + SECRET.replace("/", "\\/") + '"}') == '{"client_secret": "' + MASK + '"}'


def test_credential_shapes_are_masked_without_being_registered_and_prose_is_left_alone():
    assert redact("Authorization: Bearer eyJh.bGciOi-JIUzI1") == "Authorization: Bearer " + MASK
    assert redact("grant_type=refresh_token&refresh_token=abc123&scope=x") == f"grant_type=refresh_token&refresh_token={MASK}&scope=x"
    assert redact('{"access_token": "tok"}') == '{"access_token": "' + MASK + '"}'
    prose = "Learn the Basic fundamentals of internationalization; bearer instruments"
    assert redact(prose) == prose


def test_runtime_tokens_are_masked_and_only_the_newest_are_kept(monkeypatch):
    monkeypatch.setattr(redaction, "RUNTIME_SECRETS_KEPT", 3)
    for i in range(5):
        register(f"runtime-token-{i:04d}", runtime=True)
    assert redact("runtime-token-0004") == MASK
    assert redact("runtime-token-0000") == "runtime-token-0000"


def test_log_records_are_masked_whatever_the_logger_and_arguments(caplog):
    register("log-secret-5150")
    caplog.set_level(logging.INFO)
    prefect_logger = logging.getLogger("prefect.redaction-test")  # Prefect's loggers need not reach the root
    prefect_logger.propagate = False
    prefect_logger.addHandler(caplog.handler)
    try:
        prefect_logger.warning("token %s, %d items", {"secret": "log-secret-5150"}, 3)
    finally:
        prefect_logger.removeHandler(caplog.handler)
    logging.getLogger("some.library").warning("plain log-secret-5150")
    try:
        raise ValueError("failed with log-secret-5150")
    except ValueError:
        logging.getLogger("learnsync.x").exception("boom")
    assert "log-secret-5150" not in caplog.text
    assert "3 items" in caplog.text and caplog.text.count(MASK) >= 3


async def test_api_errors_quote_the_answer_masked():
    register("api-secret-8080")

    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": "invalid_client", "error_description": f"got {request.content.decode()}"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(echo)) as client:
        with pytest.raises(ApiError) as failure:
            await send(client, "POST", "http://auth.test/token", policy=FAST_RETRY, data={"client_secret": "api-secret-8080"})
    assert "api-secret-8080" not in str(failure.value) and MASK in failure.value.message


def test_the_store_and_the_report_keep_masked_text_only(tmp_path):
    register("store-secret-2468")
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    run = store.start_run("udemy", "default", "content")
    store.finish_run(run, "failed", {}, error="ApiError: echoed store-secret-2468")
    store.add_outcomes(run, [{"kind": "course", "external_id": "c1", "outcome": "failed", "reason": "store-secret-2468"}])
    assert store.get_run(run)["error"] == f"ApiError: echoed {MASK}"
    assert store.run_outcomes(run)["reason"].tolist() == [MASK]
    report = RunReport(provider="udemy", kind="content")
    report.error("c1", "failed", "reason store-secret-2468")
    report.notes.append("run failed: store-secret-2468")
    assert "store-secret-2468" not in report.markdown() + str(report.as_dict())


def test_an_exception_holding_a_secret_is_replaced_by_its_masked_text():
    register("exc-secret-1357")
    clean = ValueError("nothing here")
    assert scrubbed(clean) is clean
    masked = scrubbed(ValueError("has exc-secret-1357"))
    assert str(masked) == f"ValueError: has {MASK}" and isinstance(masked, redaction.RedactedError)
