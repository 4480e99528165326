"""OpenClassrooms mapping rules (docs/rules/openclassrooms.md; docs: D-02, D-08, D-10, D-12). Pure, no HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from learnsync.lms360.models import COURSE_LANGS
from learnsync.providers.base import COURSE_FIELDS, COURSE_META, QUARANTINE_COLUMNS, STAT_COLUMNS, MappingContext
from learnsync.providers.openclassrooms import PROVIDER
from learnsync.providers.openclassrooms.mapping import map_catalog, map_stats

CTX = MappingContext(owner_lang="fr", now=datetime(2025, 12, 1, tzinfo=UTC))


def course(**overrides: Any) -> dict[str, Any]:
    base = {
        "id": 4921316,
        "title": "Apprenez à programmer en Python",
        "description": "Découvrez les bases de Python...",
        "language": "fr",
        "status": "active",
        "url": "https://openclassrooms.com/fr/courses/4921316",
        "image_url": "https://user.oc-static.com/courses/4921316/illu.png",
        "duration_hours": 10,
        "difficulty": "easy",
        "categories": ["Développement"],
    }
    return {**base, **overrides}


def progress_row(**overrides: Any) -> dict[str, Any]:
    base = {
        "user_email": "learner1@example.com",
        "course_id": 4921316,
        "progress": 65,
        "time_spent_minutes": 390,
        "started_at": "2025-10-01T08:00:00Z",
        "last_activity_at": "2025-11-05T19:12:00Z",
        "completed_at": None,
    }
    return {**base, **overrides}


def catalog(*rows: dict[str, Any]) -> pd.DataFrame:
    return map_catalog(pd.DataFrame(list(rows)), "courses", CTX).courses


def one(**overrides: Any) -> pd.Series:
    out = catalog(course(**overrides))
    assert len(out) == 1
    return out.iloc[0]


def stats(*rows: dict[str, Any]):
    return map_stats(pd.DataFrame(list(rows)), CTX)


# --- provider declaration ---------------------------------------------------------------------------
@pytest.mark.rule("OC-01")
def test_rule_catalog_and_stats_are_synced_daily_at_their_own_times():
    assert PROVIDER.key == "openclassrooms" and PROVIDER.display_name == "OpenClassrooms"
    assert PROVIDER.content_cron == "30 9 * * *" and PROVIDER.stats_cron == "45 9 * * *"
    assert PROVIDER.catalog_streams({}) == ("courses",)


@pytest.mark.rule("OC-04", "OC-05")
def test_rule_archive_switches_and_language_filter_restores():
    assert PROVIDER.archive_missing and PROVIDER.archive_on_provider_status and PROVIDER.restore_on_reappear
    assert PROVIDER.filter_restores  # "unarchived immediately if it was previously archived"
    assert PROVIDER.supports_filters == ("languages",)


# --- catalogue synchronisation ----------------------------------------------------------------------
@pytest.mark.rule("OC-02", "V2-04")
def test_rule_all_courses_available_to_the_organization_are_retrieved():
    rows = [course(id=i, url=f"https://oc.example/{i}") for i in range(1, 6)]
    out = catalog(*rows)
    assert out["externalId"].tolist() == ["1", "2", "3", "4", "5"]
    assert list(out.columns) == list(COURSE_FIELDS + COURSE_META)


@pytest.mark.rule("OC-03")
def test_rule_original_title_and_description_cannot_be_modified():
    title = "  Apprenez <b>Python</b> — v2 !  "
    description = "<p>Line 1</p>\n  Line 2  "
    row = one(title=title, description=description)
    assert row["name"] == title and row["description"] == description


@pytest.mark.rule("OC-04")
def test_rule_status_active_coming_soon_pre_registration_are_kept():
    out = catalog(*(course(id=i, status=s) for i, s in enumerate(["active", "coming-soon", "pre-registration"])))
    assert out["_status"].tolist() == ["keep", "keep", "keep"]


@pytest.mark.rule("OC-04")
def test_rule_any_other_status_is_archived():
    statuses = ["archived", "draft", "closed", "unpublished", None, ""]
    out = catalog(*(course(id=i, status=s) for i, s in enumerate(statuses)))
    assert out["_status"].tolist() == ["archive"] * len(statuses)


@pytest.mark.rule("OC-04")
def test_rule_status_spelling_variants_are_read_as_the_kept_statuses():
    out = catalog(course(id=1, status="Coming_Soon"), course(id=2, status=" PRE-REGISTRATION "))
    assert out["_status"].tolist() == ["keep", "keep"]


@pytest.mark.rule("OC-04")
def test_decision_10_closed_course_is_handed_to_engine_not_dropped():
    # The engine ignores a closed course that was never synced and archives a synced one: the
    # mapping must hand it over (status "archive"), not drop or quarantine it.
    result = map_catalog(pd.DataFrame([course(status="archived")]), "courses", CTX)
    assert result.courses["_status"].tolist() == ["archive"]
    assert result.quarantine.empty and result.ignored.empty


@pytest.mark.rule("OC-05")
def test_decision_10_provider_status_wins_over_matching_language_filter():
    row = one(status="archived", language="fr")
    assert row["_filter_lang"] == "fr" and row["_status"] == "archive"


@pytest.mark.rule("OC-06")
def test_rule_manual_tags_persist_provider_sends_no_tags():
    row = one()
    assert row["_tags"] == [] and row["_skills"] is None


@pytest.mark.rule("OC-07")
def test_rule_start_button_sends_learner_to_openclassrooms_launch_url():
    row = one(url="https://openclassrooms.com/fr/courses/4921316")
    assert row["launchUrl"] == "https://openclassrooms.com/fr/courses/4921316"


# --- language and filters ---------------------------------------------------------------------------
@pytest.mark.rule("OC-05")
def test_rule_language_filter_compares_with_the_course_language():
    out = catalog(course(id=1, language="fr"), course(id=2, language="en-US"), course(id=3, language=None))
    assert out["_filter_lang"].tolist() == ["fr", "en", None]


@pytest.mark.rule("OC-08")
def test_language_locales_map_to_the_v2_enum():
    langs = ["en_US", "en-US", "pt-BR", "fr_CA", "FR", "en-GB", "zh-TW"]
    out = catalog(*(course(id=i, language=lg) for i, lg in enumerate(langs)))
    assert out["defaultLang"].tolist() == ["en", "en", "pt_BR", "fr_CA", "fr", "en_GB", "zh_tw"]


@pytest.mark.rule("OC-08")
def test_language_unknown_or_missing_falls_back_to_owner_language():
    out = catalog(course(id=1, language="klingon"), course(id=2, language=None), course(id=3, language=7))
    assert out["defaultLang"].tolist() == ["fr", "fr", "fr"]
    assert map_catalog(pd.DataFrame([course(language="xx")]), "courses", MappingContext(owner_lang="de-AT")).courses[
        "defaultLang"
    ].tolist() == ["de"]


# --- v2 fields --------------------------------------------------------------------------------------
@pytest.mark.rule("OC-09")
def test_decision_8_duration_hours_become_whole_minutes_at_least_one():
    out = catalog(
        course(id=1, duration_hours=10),
        course(id=2, duration_hours=1.5),
        course(id=3, duration_hours=0.004),  # 14 s -> at least 1 minute
        course(id=4, duration_hours="8"),
        course(id=5, duration_hours=0),
        course(id=6, duration_hours=None),
        course(id=7, duration_hours="ten"),
        course(id=8, duration_hours=5000),  # 300,000 min: above the v2 bound, not sent
    )
    assert out["duration"].astype("object").where(out["duration"].notna(), None).tolist() == [
        600, 90, 1, 480, None, None, None, None,
    ]  # fmt: skip


@pytest.mark.rule("OC-09")
def test_theoretical_hours_are_kept_in_extra():
    assert one(duration_hours=2.5)["_extra"]["theoretical_hours"] == 2.5


@pytest.mark.rule("OC-10")
def test_sources_is_openclassrooms():
    assert one()["sources"] == [{"name": "OpenClassrooms"}]


@pytest.mark.rule("OC-10")
def test_subjects_come_from_categories_or_are_empty():
    out = catalog(
        course(id=1, categories=["Data", "Data", "Design", "", 3]),
        course(id=2, categories=None),
        course(id=3, categories="Marketing"),
    )
    assert out["subjects"].tolist() == [["Data", "Design"], [], ["Marketing"]]


@pytest.mark.rule("OC-10")
def test_difficulty_maps_to_v2_levels_when_present():
    out = catalog(*(course(id=i, difficulty=d) for i, d in enumerate(["easy", "medium", "hard", "expert", None])))
    assert out["difficultyLevel"].tolist() == ["beginner", "intermediate", "advanced", None, None]


def test_image_and_optional_fields_missing_are_not_sent():
    row = one(image_url=None, description="")
    assert row["imageUrl"] is None and row["description"] is None


@pytest.mark.rule("OC-07")
def test_required_fields_missing_are_quarantined_not_sent():
    result = map_catalog(
        pd.DataFrame([course(id=1, title=None), course(id=2, url=None), course(id=None), course(id=4, title="   "), course(id=5)]),
        "courses",
        CTX,
    )
    assert result.courses["externalId"].tolist() == ["5"]
    assert list(result.quarantine.columns) == list(QUARANTINE_COLUMNS)
    got = set(zip(result.quarantine["external_id"], result.quarantine["field"]))
    assert got == {("1", "name"), ("2", "launchUrl"), ("row2", "externalId"), ("4", "name")}


@pytest.mark.rule("OC-11")
def test_duplicate_course_ids_keep_the_last_and_report_the_first():
    result = map_catalog(pd.DataFrame([course(title="old"), course(title="new")]), "courses", CTX)
    assert result.courses["name"].tolist() == ["new"]
    assert result.quarantine["field"].tolist() == ["externalId"]


def test_ids_are_strings_whatever_their_json_type():
    out = catalog(course(id=4921316), course(id="7915536", url="u2"), course(id=12.0, url="u3"))
    assert out["externalId"].tolist() == ["4921316", "7915536", "12"]


def test_empty_or_sparse_pages_do_not_break_the_mapping():
    empty = map_catalog(pd.DataFrame(), "courses", CTX)
    assert empty.courses.empty and list(empty.courses.columns) == list(COURSE_FIELDS + COURSE_META)
    sparse = map_catalog(pd.DataFrame([{"id": 1, "title": "T", "url": "https://x"}]), "courses", CTX).courses.iloc[0]
    assert sparse["defaultLang"] == "fr" and sparse["subjects"] == [] and sparse["_status"] == "archive"


def test_wire_named_sample_payload_is_accepted():
    sample = [
        {"id": 4921316, "title": "Apprenez à programmer en Python", "description": "Découvrez les bases de Python...",
         "language": "fr", "status": "active", "url": "https://openclassrooms.com/fr/courses/4921316",
         "illustration": "https://user.oc-static.com/courses/4921316/illu.png", "duration": 10, "difficulty": "easy",
         "categories": ["Développement"]},
    ]  # fmt: skip
    row = catalog(*sample).iloc[0]
    assert row["imageUrl"].endswith("illu.png") and row["duration"] == 600 and row["subjects"] == ["Développement"]


# --- learning statistics -------------------------------------------------------------------------------
@pytest.mark.rule("OC-12")
def test_rule_progress_from_0_to_100_is_passed_through():
    result = stats(progress_row(progress=0), progress_row(progress=65, course_id=2), progress_row(progress=99.6, course_id=3))
    assert result.stats["progress"].tolist() == [0, 65, 100]
    assert list(result.stats.columns) == list(STAT_COLUMNS)


@pytest.mark.rule("OC-12")
def test_rule_progress_is_rounded_half_up_as_every_provider_rounds():
    result = stats(progress_row(progress=62.5), progress_row(progress=63.5, course_id=2), progress_row(progress=0.49, course_id=3))
    assert result.stats["progress"].tolist() == [63, 64, 0]  # half to even would give 62 for 62.5


@pytest.mark.rule("OC-12")
def test_decision_12_progress_outside_0_100_is_clamped_and_reported():
    result = stats(progress_row(progress=130), progress_row(progress=-5, course_id=2), progress_row(progress=50, course_id=3))
    assert result.stats["progress"].tolist() == [100, 0, 50]
    assert result.skipped["progress_clamped"] == 2 and result.quarantine.empty


@pytest.mark.rule("OC-13")
def test_rule_time_spent_is_theoretical_course_time_times_progress_in_ms():
    # Sample 6.16: 10 h course at 65 % -> timeSpent 390 theoretical minutes.
    result = stats(progress_row(progress=65, time_spent_minutes=390))
    assert result.stats["time_spent_ms"].tolist() == [390 * 60_000]


@pytest.mark.rule("OC-13")
def test_rule_time_spent_follows_the_clamped_progress():
    # 10 h course reported at 150 % (900 min): the theoretical time at 100 % is 600 min.
    result = stats(progress_row(progress=150, time_spent_minutes=900))
    assert result.stats["time_spent_ms"].tolist() == [600 * 60_000]


@pytest.mark.rule("OC-13")
def test_time_spent_missing_negative_or_absurd_is_left_to_the_engine():
    result = stats(
        progress_row(time_spent_minutes=None),
        progress_row(course_id=2, time_spent_minutes=-3),
        progress_row(course_id=3, time_spent_minutes=1.5e14),
    )
    assert result.stats["time_spent_ms"].isna().all()
    assert result.skipped["time_spent_invalid"] == 2


def test_time_spent_rescaled_from_a_negative_progress_is_invalid_not_an_error():
    # A completion date forces 100 %: rescaling 390 min from a -1e-91 % (or -5 %) progress
    # would give an absurd (or negative) time; the row still syncs, its time left to the engine.
    result = stats(
        progress_row(progress=-1e-91, completed_at="2025-11-05T19:12:00Z"),
        progress_row(course_id=2, progress=-5, completed_at="2025-11-05T19:12:00Z"),
    )
    assert result.stats["progress"].tolist() == [100, 100] and result.quarantine.empty
    assert result.stats["time_spent_ms"].isna().all() and result.skipped["time_spent_invalid"] == 2


@pytest.mark.rule("OC-14")
def test_rule_learners_are_matched_by_lower_cased_email():
    assert stats(progress_row(user_email="  Learner1@Example.COM ")).stats["user_email"].tolist() == ["learner1@example.com"]


@pytest.mark.rule("OC-14")
def test_decision_12_row_without_learner_email_is_quarantined():
    result = stats(progress_row(user_email=None), progress_row(user_email="", course_id=2), progress_row(course_id=3))
    assert result.stats["course_external_id"].tolist() == ["3"]
    assert result.quarantine["field"].tolist() == ["userEmail", "userEmail"]
    labels = result.quarantine["external_id"].tolist()
    assert [label.split("|")[0] for label in labels] == ["4921316", "2"]
    assert all(label.split("|")[1].startswith("row:") for label in labels)
    # A quarantined record is named by what it holds, not by its place in the page: the same label
    # in a run that reads it elsewhere, so open quarantine holds it once.
    again = stats(progress_row(course_id=3), progress_row(course_id=7), progress_row(user_email="", course_id=2), progress_row(user_email=None))
    assert sorted(again.quarantine["external_id"]) == sorted(labels)


@pytest.mark.rule("OC-14")
def test_bad_email_syntax_is_quarantined_without_logging_the_email():
    result = stats(progress_row(user_email="not-an-email"), progress_row(user_email="a b@example.com", course_id=2))
    assert result.stats.empty and len(result.quarantine) == 2
    assert not result.quarantine.apply(lambda c: c.astype(str).str.contains("not-an-email|a b@").any()).any()


@pytest.mark.rule("OC-12")
def test_progress_row_without_course_or_progress_is_quarantined():
    result = stats(progress_row(course_id=None), progress_row(progress="lots", course_id=2))
    assert result.stats.empty
    assert sorted(result.quarantine["field"]) == ["courseId", "progress"]


def test_activity_dates_are_tz_aware_utc():
    row = stats(progress_row(started_at="2025-10-01T10:00:00+02:00", last_activity_at="2025-11-05")).stats.iloc[0]
    assert row["first_activity_at"] == pd.Timestamp("2025-10-01T08:00:00Z")
    assert row["last_activity_at"] == pd.Timestamp("2025-11-05T00:00:00Z")
    assert str(row["first_activity_at"].tz) == "UTC"


def test_weird_dates_become_missing_not_errors():
    row = stats(progress_row(started_at="yesterday", last_activity_at="9999-99-99")).stats.iloc[0]
    assert pd.isna(row["first_activity_at"]) and pd.isna(row["last_activity_at"])


@pytest.mark.rule("OC-15")
def test_decision_2_progress_100_is_completed_at_the_last_activity():
    row = stats(progress_row(progress=100, completed_at=None)).stats.iloc[0]
    assert row["completed_at"] == pd.Timestamp("2025-11-05T19:12:00Z")


@pytest.mark.rule("OC-15")
def test_decision_2_completion_date_means_completed_at_100():
    row = stats(progress_row(progress=None, completed_at="2025-11-06T10:00:00Z")).stats.iloc[0]
    assert row["progress"] == 100 and row["completed_at"] == pd.Timestamp("2025-11-06T10:00:00Z")


@pytest.mark.rule("OC-15")
def test_in_progress_row_is_not_completed():
    assert pd.isna(stats(progress_row(progress=65)).stats.iloc[0]["completed_at"])


def test_empty_stats_page_and_wire_named_sample_are_accepted():
    assert map_stats(pd.DataFrame(), CTX).stats.empty
    sample = [{"userEmail": "bob.martin@acme.com", "courseId": 7915536, "progress": 100, "timeSpent": 480,
               "startedAt": "2025-09-15T08:00:00Z", "lastActivityAt": "2025-10-30T10:00:00Z",
               "completedAt": "2025-10-30T10:00:00Z"}]  # fmt: skip
    row = map_stats(pd.DataFrame(sample), CTX).stats.iloc[0]
    assert (row["course_external_id"], row["progress"], row["time_spent_ms"]) == ("7915536", 100, 480 * 60_000)


# --- properties ----------------------------------------------------------------------------------------
junk = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.lists(st.text(max_size=5), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)  # fmt: skip
dates = st.one_of(junk, st.datetimes().map(lambda d: d.isoformat()), st.just("2025-10-01T08:00:00Z"))
course_records = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(junk, st.integers(1, 10**9)),
        "title": st.one_of(junk, st.just("Python")),
        "description": junk,
        "language": st.one_of(junk, st.sampled_from(["fr", "en-US", "pt-BR", "fr_CA", "xx"])),
        "status": st.one_of(junk, st.sampled_from(["active", "coming-soon", "pre-registration", "archived"])),
        "url": st.one_of(junk, st.just("https://oc.example/c")),
        "illustration": junk,
        "duration": junk,
        "difficulty": st.one_of(junk, st.sampled_from(["easy", "hard"])),
        "categories": junk,
    },
)
progress_records = st.fixed_dictionaries(
    {},
    optional={
        "userEmail": st.one_of(junk, st.just("learner1@example.com"), st.emails()),
        "courseId": st.one_of(junk, st.integers(1, 10**9)),
        "progress": junk,
        "timeSpent": junk,
        "startedAt": dates,
        "lastActivityAt": dates,
        "completedAt": dates,
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(course_records, max_size=8))
def test_property_any_catalog_page_maps_to_valid_courses_or_quarantine(records):
    result = map_catalog(pd.DataFrame(records), "courses", CTX)
    out = result.courses
    assert list(out.columns) == list(COURSE_FIELDS + COURSE_META)
    for col in ("externalId", "name", "launchUrl"):
        assert all(isinstance(v, str) and v.strip() for v in out[col])
    assert set(out["defaultLang"]) <= COURSE_LANGS
    assert all(isinstance(s, list) and all(isinstance(x, str) and x for x in s) for s in out["subjects"])
    duration = out["duration"].dropna()
    assert ((duration >= 1) & (duration <= 100_000)).all()
    assert set(out["_status"]) <= {"keep", "archive"}
    assert out["externalId"].is_unique and len(out) <= len(records)
    if result.quarantine.empty:  # nothing was set aside: every record came through
        assert len(out) == len(records)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(progress_records, max_size=8))
def test_property_any_progress_page_maps_to_valid_stats_or_quarantine(records):
    result = map_stats(pd.DataFrame(records), CTX)
    out = result.stats
    assert list(out.columns) == list(STAT_COLUMNS)
    assert len(out) + len(set(result.quarantine["external_id"])) == len(records)
    assert out["progress"].between(0, 100).all()
    assert (out["time_spent_ms"].dropna() >= 0).all()
    assert out["user_email"].str.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+").all()
    for col in ("first_activity_at", "last_activity_at", "completed_at"):
        assert str(out[col].dtype).endswith("UTC]")


# --- typed progress pages ------------------------------------------------------------------------------
# Pages as the client hands them (Arrow text, integer course ids, float numbers), odd values included.
typed_text = st.one_of(
    st.none(), st.text(max_size=6),
    st.sampled_from(["", "  ", " Learner1@Example.com ", "a@b", "a b@c.de", "a@b.c\n", "İ@x.io", "4921316", " 4921316.0 ", "x1"]),
)  # fmt: skip
exact_dates = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).map(
    lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}Z"
)
typed_dates = st.one_of(
    st.none(), exact_dates, exact_dates, exact_dates,
    st.sampled_from(["2025-02-30T00:00:00Z", "1969-12-31T23:59:59Z", "2199-12-31T23:59:59Z", "2200-01-01T00:00:00Z",
                     "2025-01-01 10:00:00Z", " 2025-01-01T00:00:0Z", "2025-01-01", "yesterday-ish", ""]),
)  # fmt: skip
typed_numbers = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([-5.0, 0.0, 65.0, 100.0, 130.0]))


@st.composite
def typed_progress_frames(draw: st.DrawFn) -> pd.DataFrame:
    """Progress pages as the client hands them: Arrow text, integer course ids, float numbers."""
    n = draw(st.integers(1, 8))

    def column(values: st.SearchStrategy[Any], dtype: str) -> pd.Series:
        return pd.Series(draw(st.lists(values, min_size=n, max_size=n)), dtype=dtype)

    course_ids = column(st.integers(-(2**63), 2**63 - 1), "int64") if draw(st.booleans()) else column(typed_text, "str")
    columns = {
        "user_email": column(typed_text, "str"), "course_id": course_ids, "progress": column(typed_numbers, "float64"),
        "time_spent_minutes": column(typed_numbers, "float64"), "started_at": column(typed_dates, "str"),
        "last_activity_at": column(typed_dates, "str"), "completed_at": column(typed_dates, "str"),
    }  # fmt: skip
    return pd.DataFrame({k: v for k, v in columns.items() if draw(st.integers(0, 9))}, index=pd.RangeIndex(n))  # some absent


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(typed_progress_frames())
def test_typed_progress_pages_map_to_valid_rows_or_quarantine_rows(frame):
    result = map_stats(frame, CTX)
    assert len(result.stats) + result.quarantine["external_id"].nunique() == len(frame)  # one label per bad row
    assert result.stats["course_external_id"].notna().all() and result.stats["progress"].between(0, 100).all()
    assert (result.stats["time_spent_ms"].dropna() >= 0).all()
    for column in ("first_activity_at", "last_activity_at", "completed_at"):
        assert str(result.stats[column].dt.tz) == "UTC"
