"""The proof of data safety: random sequences against the real sandboxes and flows, checked by invariants.

A hypothesis state machine changes the OpenClassrooms catalog (additions, edits, removals, closures,
reopenings), adds learner activity, changes the language filter, makes 360Learning reject items
for a while, injects transport faults, kills runs between a bulk job's acceptance and its
confirmation, and runs content and stats syncs in any order. After every clean catch-up (faults
cleared, a content run, a stats run) it checks:

- 360Learning holds exactly the live, filter-matching courses as published, with their mapped name;
- nothing live and matching is archived (the same check, seen from the archived side);
- every learner attempt the provider reported on a course 360Learning has is there exactly once,
  with the provider's progress;
- the state store agrees with 360Learning (each course's status and id).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from learnsync.flows.content_sync import content_sync
from learnsync.flows.lifecycle import set_filters
from learnsync.flows.runtime import state_store
from learnsync.flows.stats_sync import stats_sync
from learnsync.providers.base import MappingContext
from learnsync.providers.openclassrooms import settings as oc
from learnsync.providers.openclassrooms.mapping import map_catalog, map_stats
from learnsync.sandboxes.fleet import start_fleet
from tests.e2e.helpers import run

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]

UPSERT = r"/api/v2/bulk/integrations/[^/]+/courses$"
STATUS_POLL = r"/api/v2/bulk/operations/[^/]+$"
LANGUAGES = ("fr", "en", "es")
FIGURES: Counter = Counter()


class SyncMachine(RuleBasedStateMachine):
    """One OpenClassrooms integration on one 360Learning platform, driven at random."""

    @initialize()
    def start(self) -> None:
        self.fleet = start_fleet(["openclassrooms"], {"openclassrooms": {"n_courses": 10, "n_activities": 25, "ghost_ratio": 0.0, "bad_ratio": 0.0}})
        env = {**self.fleet.env(), "LEARNSYNC_DATABASE_URL": f"sqlite:///{tempfile.mkdtemp(prefix='model-')}/state.db"}
        self.saved_env = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        self.provider = self.fleet.app("openclassrooms").state.store
        self.lms = self.fleet.app("lms360").state.store
        self.next_id = 5_000_000
        self.filters: list[str] = []
        self.checked = False
        FIGURES["sequences"] += 1

    def teardown(self) -> None:
        if getattr(self, "fleet", None) is None:
            return
        try:
            self.clean_catch_up()  # every sequence ends checked
            self.synced_state_is_exact()
        finally:
            self.fleet.close()
            for key, value in self.saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    # --- the provider changes ---------------------------------------------------------------

    def _ids(self) -> list[str]:
        return sorted(self.provider.courses)

    def _active_ids(self) -> list[str]:
        """Courses with learner activity (what a rejection must not lose)."""
        return sorted({str(r["courseId"]) for r in self.provider.activities} & set(self.provider.courses)) or self._ids()

    @rule(
        change=st.sampled_from(["add", "add", "edit", "remove", "close", "reopen", "activity", "activity"]),
        lang=st.sampled_from(LANGUAGES), pick=st.integers(0, 10_000), learner=st.integers(1, 8), progress=st.integers(0, 100),
    )
    def provider_changes(self, change: str, lang: str, pick: int, learner: int, progress: int) -> None:
        """The catalog or the learners' activity changes at the provider."""
        ids = self._ids()
        cid = ids[pick % len(ids)]
        if change == "add":
            self.next_id += 7
            cid = str(self.next_id)
            self.provider.upsert_course({
                "id": int(cid), "title": f"Course {cid}", "description": f"About {cid}", "language": lang,
                "status": "active" if pick % 4 else "coming-soon", "url": f"https://openclassrooms.com/fr/courses/{cid}",
                "duration": 3, "difficulty": "easy", "categories": ["Data"],
            })
        elif change == "edit":
            self.provider.set_course(cid, title=f"{self.provider.course(cid)['title']} (v{pick % 97})")
        elif change == "remove" and len(ids) > 3:
            self.provider.remove_course(cid)
        elif change == "close":
            self.provider.set_course(cid, status="archived" if pick % 2 else "closed")
        elif change == "reopen":
            self.provider.set_course(cid, status="active")
        elif change == "activity":
            self._activity(cid, f"learner{learner}@example.com", progress)
        FIGURES[f"step:{change}"] += 1

    def _activity(self, cid: str, email: str, progress: int) -> None:
        now = datetime.now(UTC).replace(microsecond=0)
        rows = [r for r in self.provider.activities if str(r["courseId"]) == str(cid) and r["userEmail"].lower() == email]
        iso = lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
        if rows:  # the same attempt progresses (a completed one stays completed)
            row = rows[-1]
            if row.get("completedAt"):
                return
            row.update(progress=max(progress, row["progress"] or 0), lastActivityAt=iso(now))
            if row["progress"] == 100:
                row["completedAt"] = iso(now)
            self.provider._changed()
        else:
            self.provider.add_activity({
                "userEmail": email, "courseId": int(cid), "progress": progress, "timeSpent": progress,
                "startedAt": iso(now - timedelta(hours=1)), "lastActivityAt": iso(now),
                "completedAt": iso(now) if progress == 100 else None,
            })

    @rule(languages=st.lists(st.sampled_from(LANGUAGES), max_size=2, unique=True))
    def change_filter(self, languages: list[str]) -> None:
        run(set_filters(provider="openclassrooms", filters={"languages": languages} if languages else {}, force=True))
        self.filters = languages
        FIGURES["step:filter_change"] += 1

    # --- faults and runs --------------------------------------------------------------------

    @rule(fault=st.sampled_from(["reject", "reject", "503x2", "503x12", "kill"]), pick=st.integers(0, 10_000))
    def fault(self, fault: str, pick: int) -> None:
        """Something goes wrong on the 360Learning side (it lasts until the next clean catch-up)."""
        faults = self.fleet.app("lms360").state.faults
        if fault == "reject":  # transient per-item rejections of one course with activity
            ids = self._active_ids()
            self.lms.reject_items([ids[pick % len(ids)]], "internalError: item rejected")
        elif fault.startswith("503"):
            faults.add("status", status=503, path=UPSERT, method="PUT", times=int(fault[4:]))
        else:  # a content run dies between a bulk job's acceptance and its confirmation
            faults.add("status", status=500, path=STATUS_POLL, method="GET", times=None)
            self._sync("content")
            faults.clear()
        FIGURES[f"fault:{fault}"] += 1

    @rule(kind=st.sampled_from(["content", "stats"]))
    def sync(self, kind: str) -> None:
        self._sync(kind)

    def _sync(self, kind: str) -> None:
        try:
            run((content_sync if kind == "content" else stats_sync)(provider="openclassrooms"))
        except Exception:
            FIGURES["runs_failed"] += 1
        FIGURES["runs"] += 1

    @rule()
    def clean_catch_up(self) -> None:
        self.fleet.app("lms360").state.faults.clear()
        self.lms.clear_rejections()
        run(content_sync(provider="openclassrooms"))
        run(stats_sync(provider="openclassrooms"))
        FIGURES["runs"] += 2
        FIGURES["clean_checks"] += 1
        self.checked = True

    # --- invariants (after a clean catch-up) ------------------------------------------------

    def _expected_courses(self) -> dict[str, str]:
        raw = pd.DataFrame.from_records(self.provider.course_list())
        mapped = map_catalog(raw, oc.CATALOG_STREAM, MappingContext()).courses
        live = mapped[mapped["_status"] == "keep"]
        if self.filters:
            live = live[live["_filter_lang"].astype(str).str.lower().isin(self.filters)]
        return dict(zip(live["externalId"].astype(str), live["name"]))

    @invariant()
    def synced_state_is_exact(self) -> None:
        if not getattr(self, "checked", False):
            return
        self.checked = False
        courses = {c["externalId"]: c for c in self.lms.courses()}
        published = {e for e, c in courses.items() if c["status"] == "published"}
        expected = self._expected_courses()
        wrongly_archived = {e for e in expected if courses.get(e, {}).get("status") == "archived"}
        FIGURES["live_courses_wrongly_archived"] += len(wrongly_archived)
        assert not wrongly_archived, f"live, matching courses archived: {sorted(wrongly_archived)}"
        assert published == set(expected), (sorted(published - set(expected)), sorted(set(expected) - published))
        assert {e: courses[e]["name"] for e in published} == expected

        # every reported attempt on a course 360Learning has: exactly once, with its progress
        ids = {c["courseId"]: e for e, c in courses.items()}
        attempts = Counter((ids.get(a["courseId"]), a["mail"]) for a in self.lms.attempts())
        duplicates = sum(n - 1 for n in attempts.values() if n > 1)
        FIGURES["duplicates"] += duplicates
        assert duplicates == 0, [k for k, n in attempts.items() if n > 1]
        reported = map_stats(pd.DataFrame.from_records(self.provider.activities), MappingContext(now=datetime.now(UTC))).stats
        reported = reported[reported["course_external_id"].astype(str).isin(courses)]
        wanted = set(zip(reported["course_external_id"].astype(str), reported["user_email"]))
        lost = wanted - set(attempts)
        FIGURES["attempts_lost"] += len(lost)
        assert not lost, f"reported attempts never delivered: {sorted(lost)}"
        progress = {(ids.get(a["courseId"]), a["mail"]): a["progress"] for a in self.lms.attempts()}
        for c, u, p in zip(reported["course_external_id"].astype(str), reported["user_email"], reported["progress"]):
            assert progress[(c, u)] == int(p), (c, u, progress[(c, u)], p)
        FIGURES["attempts_checked"] += len(wanted)

        # the state store agrees with 360Learning
        store = state_store(os.environ["LEARNSYNC_DATABASE_URL"])
        integration = store.get_integration("openclassrooms")
        state = store.load_courses(integration["id"])
        in_state = {e: (s, cid) for e, s, cid in zip(state["external_id"], state["status"], state["course_id"])}
        for ext, course in courses.items():
            status = "active" if course["status"] == "published" else "archived"
            assert in_state.get(ext) == (status, course["courseId"]), (ext, in_state.get(ext), status)


# A fixed seed keeps CI repeatable while still exploring varied sequences (derandomize would
# start from the simplest ones only); LEARNSYNC_MODEL_SEED explores others.
TestSyncMachine = seed(int(os.environ.get("LEARNSYNC_MODEL_SEED", "20261203")))(SyncMachine.TestCase)
TestSyncMachine.settings = settings(
    max_examples=int(os.environ.get("LEARNSYNC_MODEL_EXAMPLES", "4")),
    stateful_step_count=int(os.environ.get("LEARNSYNC_MODEL_STEPS", "15")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)


@pytest.fixture(autouse=True)
def _figures(learnsync_env):
    """Fast retries and polls (learnsync_env); each sequence opens its own state DB (`start`)."""
    yield
    figures = Path(os.environ.get("LEARNSYNC_MODEL_FIGURES", str(learnsync_env / "model-figures.json")))
    figures.write_text(json.dumps(dict(FIGURES), indent=1, sort_keys=True))
    print("model-based test figures:", json.dumps(dict(FIGURES), sort_keys=True))
