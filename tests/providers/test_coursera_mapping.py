"""Coursera mapping rules (docs/rules/coursera.md; docs: D-03, D-05, D-06, D-07, D-08, D-12). Pure, no I/O."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from learnsync.providers.base import COURSE_FIELDS, COURSE_META, QUARANTINE_COLUMNS, STAT_COLUMNS, MappingContext
from learnsync.providers.coursera import PROVIDER
from learnsync.providers.coursera.mapping import map_catalog, map_stats
from learnsync.providers.kit.languages import V2_LANGUAGES

NOW = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
CTX = MappingContext(owner_lang="fr", now=NOW)

CONTENT: dict[str, Any] = {  # a `/contents` element (docs/providers/coursera.md: Catalog)
    "id": "Course~r0GnHOZaEees-Q6jQMxlrg",
    "contentId": "r0GnHOZaEees-Q6jQMxlrg",
    "contentType": "Course",
    "name": "Supervised Machine Learning: Regression and Classification",
    "slug": "machine-learning",
    "description": "Build machine learning models in Python...",
    "languageCode": "en",
    "difficultyLevel": "BEGINNER",
    "lastUpdatedAt": 1767000000,
    "instructors": [{"name": "Andrew Ng", "title": "Instructor"}],
    "partners": [
        {"name": "DeepLearning.AI", "logoUrl": "https://assets.example/dlai.png"},
        {"name": "Stanford University", "logoUrl": "https://assets.example/stanford.png"},
    ],
    "programs": [
        {"programId": "L5Vab6GGEe22BhJjP5ulfQ", "contentUrl": "https://www.coursera.org/programs/acme/learn/machine-learning"},
        {"programId": "Other", "contentUrl": "https://www.coursera.org/programs/other/learn/machine-learning"},
    ],
    "extraMetadata": {
        "typeName": "courseMetadata",
        "definition": {
            "skills": [{"skillName": "Regression Analysis", "skillId": "regression-analysis"}, {"skillName": "Python", "skillId": "py"}],
            "estimatedLearningTime": 118800,
            "promoPhoto": "https://img.example/ml.png",
        },
    },
}

ENROLLMENT: dict[str, Any] = {  # an `/enrollmentReports` row (docs/providers/coursera.md: Statistics)
    "id": "alice.durand@acme.com~L5Vab6GGEe22BhJjP5ulfQ~r0GnHOZaEees-Q6jQMxlrg",
    "externalId": "alice.durand@acme.com",
    "email": "alice.durand@acme.com",
    "programId": "L5Vab6GGEe22BhJjP5ulfQ",
    "contentId": "r0GnHOZaEees-Q6jQMxlrg",
    "contentType": "Course",
    "isCompleted": True,
    "overallProgress": 100,
    "approxTotalCourseHrs": 28.75,
    "enrolledAt": 1764061800000,
    "lastActivityAt": 1765011660000,
    "completedAt": 1765012800000,
}


def content(**changes: Any) -> dict[str, Any]:
    record = copy.deepcopy(CONTENT)
    for key, value in changes.items():
        if value is ...:
            record.pop(key, None)
        else:
            record[key] = value
    return record


def definition(**changes: Any) -> dict[str, Any]:
    meta = copy.deepcopy(CONTENT["extraMetadata"])
    for key, value in changes.items():
        if value is ...:
            meta["definition"].pop(key, None)
        else:
            meta["definition"][key] = value
    return content(extraMetadata=meta)


def enrollment(**changes: Any) -> dict[str, Any]:
    record = dict(ENROLLMENT)
    for key, value in changes.items():
        if value is ...:
            record.pop(key, None)
        else:
            record[key] = value
    return record


def catalog(*records: dict[str, Any]):
    return map_catalog(pd.DataFrame(list(records)), "contents", CTX)


def one_course(record: dict[str, Any]) -> pd.Series:
    result = catalog(record)
    assert len(result.courses) == 1, result.quarantine
    return result.courses.iloc[0]


def stats(*records: dict[str, Any], ctx: MappingContext = CTX):
    return map_stats(pd.DataFrame(list(records)), ctx)


def one_stat(record: dict[str, Any], ctx: MappingContext = CTX) -> pd.Series:
    result = stats(record, ctx=ctx)
    assert len(result.stats) == 1, result.quarantine
    return result.stats.iloc[0]


def ts(ms: int) -> pd.Timestamp:
    return pd.Timestamp(ms, unit="ms", tz="UTC")


# --- provider switches --------------------------------------------------------------------
@pytest.mark.rule("COURSERA-15", "COURSERA-19")
def test_rule_course_archiving_is_not_supported_spec_switches() -> None:
    assert PROVIDER.key == "coursera" and PROVIDER.display_name == "Coursera"
    assert PROVIDER.archive_missing is False
    assert PROVIDER.archive_on_provider_status is False
    assert PROVIDER.restore_on_reappear is False
    assert PROVIDER.filter_restores is False  # a filter match does not unarchive (docs: D-06)
    assert PROVIDER.supports_filters == ("languages", "content_types")
    assert PROVIDER.catalog_streams({}) == ("contents",)


@pytest.mark.rule("COURSERA-01")
def test_rule_schedule_content_at_8_45_and_stats_at_9_00_cet() -> None:
    assert PROVIDER.content_cron == "45 8 * * *"
    assert PROVIDER.stats_cron == "0 9 * * *"


# --- content mapping table -----------------------------------------------------------------
@pytest.mark.rule("COURSERA-02", "V2-04")
def test_rule_output_columns_are_v2_fields_and_engine_metadata() -> None:
    result = catalog(CONTENT)
    assert list(result.courses.columns) == list(COURSE_FIELDS + COURSE_META)
    assert list(result.quarantine.columns) == list(QUARANTINE_COLUMNS)


@pytest.mark.rule("COURSERA-03")
def test_rule_id_becomes_external_id() -> None:
    assert one_course(CONTENT)["externalId"] == "Course~r0GnHOZaEees-Q6jQMxlrg"


@pytest.mark.rule("COURSERA-03")
def test_rule_external_id_is_required() -> None:
    result = catalog(content(id=...))
    assert result.courses.empty
    assert result.quarantine.to_dict("records") == [
        {"external_id": "Course~r0GnHOZaEees-Q6jQMxlrg", "field": "externalId", "reason": "missing id"}
    ]


@pytest.mark.rule("COURSERA-04")
def test_rule_name_becomes_name() -> None:
    assert one_course(CONTENT)["name"] == CONTENT["name"]


@pytest.mark.rule("COURSERA-04")
def test_rule_name_is_required() -> None:
    result = catalog(content(name="   "), content(id="Course~b", name=None))
    assert result.courses.empty
    assert sorted(result.quarantine["external_id"]) == ["Course~b", "Course~r0GnHOZaEees-Q6jQMxlrg"]
    assert set(result.quarantine["field"]) == {"name"}


@pytest.mark.rule("COURSERA-05")
def test_rule_description_becomes_description_and_is_optional() -> None:
    assert one_course(CONTENT)["description"] == CONTENT["description"]
    assert pd.isna(one_course(content(description=...))["description"])
    assert pd.isna(one_course(content(description=""))["description"])  # v2 minLength 1


@pytest.mark.rule("COURSERA-06")
def test_rule_promo_photo_becomes_image_url() -> None:
    assert one_course(CONTENT)["imageUrl"] == "https://img.example/ml.png"
    assert pd.isna(one_course(definition(promoPhoto=...))["imageUrl"])


@pytest.mark.rule("COURSERA-07")
def test_rule_estimated_learning_time_seconds_become_duration_minutes() -> None:
    # seconds -> whole minutes, 118800 s = 1980 min (docs: D-08)
    assert one_course(CONTENT)["duration"] == 1980
    assert one_course(definition(estimatedLearningTime=90))["duration"] == 2  # 1.5 rounds half up


@pytest.mark.rule("COURSERA-07")
def test_rule_duration_is_at_least_one_minute_or_missing() -> None:
    assert one_course(definition(estimatedLearningTime=10))["duration"] == 1
    for value in (0, -60, "abc", None, True, 10**12):
        assert pd.isna(one_course(definition(estimatedLearningTime=value))["duration"]), value
    assert pd.isna(one_course(definition(estimatedLearningTime=...))["duration"])


@pytest.mark.rule("COURSERA-08")
def test_rule_language_code_becomes_default_lang_in_v2_enum() -> None:
    cases = {"en": "en", "en_US": "en", "en-US": "en", "pt-BR": "pt_BR", "fr_CA": "fr_CA", "FR": "fr",
             "zh-TW": "zh_tw", "zh-Hant": "zh_HANT", "zh-CN": "zh", "he": "he_IL", "en-GB": "en_GB"}
    records = [content(id=f"Course~{i}", languageCode=code) for i, code in enumerate(cases)]
    result = catalog(*records)
    assert result.quarantine.empty
    assert result.courses["defaultLang"].tolist() == list(cases.values())


@pytest.mark.rule("COURSERA-08")
def test_rule_language_is_required_missing_language_is_quarantined() -> None:
    # no owner-language fallback for Coursera, ctx.owner_lang is "fr" here (docs: D-05)
    result = catalog(content(languageCode=...), content(id="Course~b", languageCode=""))
    assert result.courses.empty
    assert set(result.quarantine["field"]) == {"defaultLang"}
    assert set(result.quarantine["reason"]) == {"missing languageCode"}


@pytest.mark.rule("COURSERA-08")
def test_rule_unmapped_language_is_quarantined() -> None:
    result = catalog(content(languageCode="xx"), content(id="Course~b", languageCode="tlh"))
    assert result.courses.empty
    assert result.quarantine["reason"].str.startswith("unsupported languageCode").all()


@pytest.mark.rule("COURSERA-09")
def test_rule_first_program_content_url_becomes_launch_url() -> None:
    assert one_course(CONTENT)["launchUrl"] == "https://www.coursera.org/programs/acme/learn/machine-learning"


@pytest.mark.rule("COURSERA-09")
def test_rule_launch_url_is_required() -> None:
    result = catalog(content(programs=[]), content(id="Course~b", programs=...), content(id="Course~c", programs=[{"programId": "x"}]))
    assert result.courses.empty
    assert set(result.quarantine["field"]) == {"launchUrl"}
    assert len(result.quarantine) == 3


@pytest.mark.rule("COURSERA-10")
def test_rule_skill_names_become_subjects() -> None:
    assert one_course(CONTENT)["subjects"] == ["Regression Analysis", "Python"]


@pytest.mark.rule("COURSERA-10")
def test_rule_no_skills_gives_empty_subjects() -> None:
    # (docs: D-07)
    assert one_course(definition(skills=[]))["subjects"] == []
    assert one_course(definition(skills=...))["subjects"] == []
    assert one_course(content(extraMetadata=...))["subjects"] == []


@pytest.mark.rule("COURSERA-11")
def test_rule_difficulty_level_becomes_lower_case_v2_enum() -> None:
    for raw, mapped in {"BEGINNER": "beginner", "INTERMEDIATE": "intermediate", "ADVANCED": "advanced"}.items():
        assert one_course(content(difficultyLevel=raw))["difficultyLevel"] == mapped


@pytest.mark.rule("COURSERA-11")
def test_rule_unmappable_difficulty_level_is_omitted() -> None:
    for raw in ("MIXED", "EXPERT", None, 3):
        assert pd.isna(one_course(content(difficultyLevel=raw))["difficultyLevel"]), raw


@pytest.mark.rule("COURSERA-12")
def test_rule_every_partner_becomes_a_source() -> None:
    # partners is a list; each gives {name, logoUrl} (docs: D-07)
    assert one_course(CONTENT)["sources"] == [
        {"name": "DeepLearning.AI", "logoUrl": "https://assets.example/dlai.png"},
        {"name": "Stanford University", "logoUrl": "https://assets.example/stanford.png"},
    ]
    assert one_course(content(partners=[{"name": "IBM"}, {"logoUrl": "x"}]))["sources"] == [{"name": "IBM"}]


@pytest.mark.rule("COURSERA-12")
def test_rule_no_partner_gives_coursera_source() -> None:
    assert one_course(content(partners=[]))["sources"] == [{"name": "Coursera"}]
    assert one_course(content(partners=...))["sources"] == [{"name": "Coursera"}]


@pytest.mark.rule("COURSERA-13")
def test_rule_content_type_becomes_v2_content_type() -> None:
    table = {"Course": "course", "Specialization": "specialization", "ProfessionalCertificate": "certificate",
             "Project": "labs", "GuidedProject": "labs", "GUIDED_PROJECT": "labs", "Video": "video", "Degree": "program"}
    result = catalog(*[content(id=f"X~{i}", contentType=t) for i, t in enumerate(table)])
    assert result.courses["contentType"].tolist() == list(table.values())
    assert pd.isna(one_course(content(contentType="Hologram"))["contentType"])  # v2 then defaults to course


@pytest.mark.rule("COURSERA-17")
def test_rule_filters_compare_provider_language_and_content_type() -> None:
    row = one_course(content(languageCode="pt-BR", contentType="Specialization"))
    assert row["_filter_lang"] == "pt-BR"
    assert row["_filter_type"] == "Specialization"


@pytest.mark.rule("COURSERA-15")
def test_rule_coursera_archived_content_stays_active() -> None:
    # a course archived in Coursera stays active in 360Learning (docs: COURSERA-15, D-06)
    row = one_course(content(isArchived=True))
    assert row["_status"] == "keep"
    assert row["_extra"]["isArchived"] is True


@pytest.mark.rule("COURSERA-16")
def test_rule_tags_are_empty_and_skills_left_alone() -> None:
    row = one_course(CONTENT)
    assert row["_tags"] == [] and row["_skills"] is None


@pytest.mark.rule("COURSERA-14")
def test_rule_values_without_v2_field_are_kept_in_extra() -> None:
    # (docs: D-01)
    extra = one_course(CONTENT)["_extra"]
    assert extra["slug"] == "machine-learning"
    assert extra["instructors"] == ["Andrew Ng"]
    assert extra["programIds"] == ["L5Vab6GGEe22BhJjP5ulfQ", "Other"]


@pytest.mark.rule("COURSERA-02")
def test_catalog_reads_flattened_frames_like_nested_ones() -> None:
    nested = catalog(CONTENT).courses
    flat = map_catalog(pd.json_normalize([CONTENT]), "contents", CTX).courses
    pd.testing.assert_frame_equal(nested.drop(columns="_extra"), flat.drop(columns="_extra"))


def test_catalog_empty_and_sparse_frames_do_not_raise() -> None:
    empty = map_catalog(pd.DataFrame(), "contents", CTX)
    assert empty.courses.empty and list(empty.courses.columns) == list(COURSE_FIELDS + COURSE_META)
    sparse = map_catalog(pd.DataFrame([{"id": "Course~a"}, {}]), "contents", CTX)
    assert sparse.courses.empty
    assert {"externalId", "name", "launchUrl", "defaultLang"} <= set(sparse.quarantine["field"])


@pytest.mark.rule("COURSERA-03")
def test_catalog_duplicate_id_is_quarantined_once() -> None:
    result = catalog(CONTENT, CONTENT)
    assert len(result.courses) == 1
    assert result.quarantine["reason"].tolist() == ["duplicate id in extract"]


# --- statistics mapping ----------------------------------------------------------------------
@pytest.mark.rule("COURSERA-20")
def test_rule_stats_output_columns() -> None:
    assert list(stats(ENROLLMENT).stats.columns) == list(STAT_COLUMNS)


@pytest.mark.rule("COURSERA-20")
def test_rule_course_external_id_is_content_type_tilde_content_id() -> None:
    row = one_stat(ENROLLMENT)
    assert row["course_external_id"] == "Course~r0GnHOZaEees-Q6jQMxlrg" == CONTENT["id"]


@pytest.mark.rule("COURSERA-20")
def test_rule_course_external_id_is_required() -> None:
    result = stats(enrollment(contentType=...), enrollment(contentId=None))
    assert result.stats.empty
    assert result.quarantine["field"].tolist() == ["course_external_id", "course_external_id"]


@pytest.mark.rule("COURSERA-21")
def test_rule_learner_mail_is_external_id_lower_cased() -> None:
    assert one_stat(enrollment(externalId="  Alice.DURAND@Acme.com ", email="other@acme.com"))["user_email"] == "alice.durand@acme.com"


@pytest.mark.rule("COURSERA-21")
def test_rule_learner_mail_falls_back_to_email_when_external_id_missing() -> None:
    assert one_stat(enrollment(externalId=..., email="Bob@Acme.com"))["user_email"] == "bob@acme.com"
    assert one_stat(enrollment(externalId="", email="bob@acme.com"))["user_email"] == "bob@acme.com"


@pytest.mark.rule("COURSERA-21")
def test_rule_row_without_learner_email_is_quarantined() -> None:
    # (docs: D-12)
    result = stats(enrollment(externalId=..., email=...), ENROLLMENT)
    assert len(result.stats) == 1
    assert result.quarantine[["field", "reason"]].to_dict("records") == [{"field": "user_email", "reason": "missing externalId and email"}]


@pytest.mark.rule("COURSERA-21")
def test_decision_13_a_non_address_external_id_gives_way_to_the_email_field() -> None:
    result = stats(enrollment(externalId="E-10293", email="Bob@Acme.com"), enrollment(externalId="a@b", email="carol@acme.com"))
    assert result.stats["user_email"].tolist() == ["bob@acme.com", "carol@acme.com"] and result.quarantine.empty


@pytest.mark.rule("COURSERA-21")
def test_decision_13_a_row_is_quarantined_only_when_neither_is_an_address() -> None:
    result = stats(
        enrollment(externalId="E-10293", email=...), enrollment(externalId="a@b", email="x y@acme.com"),
        enrollment(externalId=..., email="not-an-email"),
    )
    assert result.stats.empty
    assert set(result.quarantine["reason"]) == {"learner id is not an e-mail address"} and len(result.quarantine) == 3


def test_one_quarantine_row_per_bad_stat_record() -> None:
    result = stats(enrollment(contentId=..., externalId=..., email=...))
    assert result.quarantine["field"].tolist() == ["course_external_id"]


@pytest.mark.rule("COURSERA-21")
def test_quarantine_reference_never_carries_the_email() -> None:
    result = stats(enrollment(externalId="not-an-email", email="nor@this"), enrollment(id=..., externalId=None, email=None))
    assert len(result.quarantine) == 2  # one row per bad record
    assert not result.quarantine["external_id"].str.contains("@").any()
    assert result.quarantine["external_id"].str.startswith("Course~r0GnHOZaEees-Q6jQMxlrg|").all()


@pytest.mark.rule("COURSERA-22")
def test_rule_progress_is_100_when_is_completed() -> None:
    assert one_stat(enrollment(isCompleted=True, overallProgress=37))["progress"] == 100
    assert one_stat(enrollment(isCompleted=True, overallProgress=...))["progress"] == 100


@pytest.mark.rule("COURSERA-22")
def test_rule_progress_is_50_when_no_overall_progress() -> None:
    assert one_stat(enrollment(isCompleted=False, overallProgress=...))["progress"] == 50
    assert one_stat(enrollment(isCompleted=..., overallProgress=None))["progress"] == 50


@pytest.mark.rule("COURSERA-22")
def test_rule_progress_is_overall_progress_otherwise() -> None:
    assert one_stat(enrollment(isCompleted=False, overallProgress=37))["progress"] == 37
    assert one_stat(enrollment(isCompleted=..., overallProgress=64.6))["progress"] == 65


@pytest.mark.rule("COURSERA-22")
def test_rule_progress_out_of_range_is_clamped_and_reported() -> None:
    # clamp and report, no quarantine (docs: D-12)
    result = stats(enrollment(isCompleted=False, overallProgress=150), enrollment(id="b", isCompleted=False, overallProgress=-3),
                   enrollment(id="c", isCompleted=False, overallProgress=20))
    assert result.stats["progress"].tolist() == [100, 0, 20]
    assert result.skipped == {"progress_clamped": 2}
    assert result.quarantine.empty
    assert stats(ENROLLMENT).skipped == {}  # nothing clamped, nothing reported


@pytest.mark.rule("COURSERA-23")
def test_rule_is_completed_false_is_not_completed() -> None:
    # (docs: D-03)
    row = one_stat(enrollment(isCompleted=False, overallProgress=100))
    assert pd.isna(row["completed_at"])
    assert pd.isna(one_stat(enrollment(isCompleted=..., overallProgress=30))["completed_at"])


@pytest.mark.rule("COURSERA-23")
def test_rule_completed_at_is_last_activity_when_completed() -> None:
    assert one_stat(ENROLLMENT)["completed_at"] == ts(1765011660000)


@pytest.mark.rule("COURSERA-23")
def test_rule_completed_at_falls_back_to_coursera_completed_at() -> None:
    # (docs: D-03)
    assert one_stat(enrollment(lastActivityAt=None))["completed_at"] == ts(1765012800000)


@pytest.mark.rule("COURSERA-23")
def test_rule_completed_at_is_now_when_no_dates() -> None:
    row = one_stat(enrollment(lastActivityAt=..., completedAt=None))
    assert row["completed_at"] == pd.Timestamp(NOW)
    assert pd.isna(row["last_activity_at"])


@pytest.mark.rule("COURSERA-24")
def test_rule_approx_total_course_hrs_becomes_time_spent_ms() -> None:
    # hours -> milliseconds (docs: D-08)
    assert one_stat(ENROLLMENT)["time_spent_ms"] == 103_500_000
    assert one_stat(enrollment(approxTotalCourseHrs=2.98))["time_spent_ms"] == 10_728_000
    assert pd.isna(one_stat(enrollment(approxTotalCourseHrs=...))["time_spent_ms"])
    assert pd.isna(one_stat(enrollment(approxTotalCourseHrs=-1))["time_spent_ms"])


@pytest.mark.rule("COURSERA-25")
def test_rule_first_activity_is_enrolled_at() -> None:
    assert one_stat(ENROLLMENT)["first_activity_at"] == ts(1764061800000)


@pytest.mark.rule("COURSERA-25")
def test_rule_no_enrolled_at_gives_no_first_activity() -> None:
    assert pd.isna(one_stat(enrollment(enrolledAt=...))["first_activity_at"])
    assert pd.isna(one_stat(enrollment(enrolledAt="not a date"))["first_activity_at"])


@pytest.mark.rule("COURSERA-26")
def test_rule_last_activity_is_last_activity_at() -> None:
    assert one_stat(ENROLLMENT)["last_activity_at"] == ts(1765011660000)


@pytest.mark.rule("COURSERA-26")
def test_epoch_ms_and_iso_timestamps_become_utc() -> None:
    row = one_stat(enrollment(enrolledAt="2025-11-25T10:10:00+01:00", lastActivityAt="1765011660000"))
    assert row["first_activity_at"] == pd.Timestamp("2025-11-25T09:10:00Z")
    assert row["last_activity_at"] == ts(1765011660000)
    assert str(row["first_activity_at"].tz) == "UTC"


def test_stats_empty_frame_does_not_raise() -> None:
    result = map_stats(pd.DataFrame(), CTX)
    assert result.stats.empty and list(result.stats.columns) == list(STAT_COLUMNS)


# --- property tests ------------------------------------------------------------------------
junk = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**15), max_value=10**15), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
maybe_text = st.one_of(junk, st.sampled_from(["en", "pt-BR", "fr_CA", "xx", "https://x.example/a", "Course", "BEGINNER"]))
weird_dates = st.one_of(junk, st.integers(min_value=0, max_value=5 * 10**12), st.sampled_from(["2025-01-01T00:00:00Z", "2025-13-45", "1765011660000", "yesterday"]))


def _optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=fields)


content_records = _optional(
    id=maybe_text, contentId=maybe_text, contentType=maybe_text, name=maybe_text, description=maybe_text,
    languageCode=maybe_text, difficultyLevel=maybe_text,
    partners=st.one_of(junk, st.lists(_optional(name=maybe_text, logoUrl=maybe_text), max_size=3)),
    programs=st.one_of(junk, st.lists(_optional(programId=maybe_text, contentUrl=maybe_text), max_size=2)),
    extraMetadata=st.one_of(junk, _optional(definition=st.one_of(junk, _optional(
        skills=st.one_of(junk, st.lists(_optional(skillName=maybe_text), max_size=3)),
        estimatedLearningTime=st.one_of(junk, st.floats(min_value=-1e9, max_value=1e10)),
        promoPhoto=maybe_text)))),
)
enrollment_records = _optional(
    id=maybe_text, externalId=st.one_of(maybe_text, st.emails()), email=st.one_of(maybe_text, st.emails()),
    contentId=maybe_text, contentType=maybe_text, isCompleted=st.one_of(junk, st.sampled_from(["true", "false"])),
    overallProgress=st.one_of(junk, st.floats(min_value=-500, max_value=500)), approxTotalCourseHrs=junk,
    enrolledAt=weird_dates, lastActivityAt=weird_dates, completedAt=weird_dates,
)
LANGS = set(V2_LANGUAGES)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(content_records, max_size=8))
def test_property_catalog_never_raises_and_outputs_only_valid_courses(records: list[dict[str, Any]]) -> None:
    result = map_catalog(pd.DataFrame(records), "contents", CTX)
    courses = result.courses
    assert list(courses.columns) == list(COURSE_FIELDS + COURSE_META)
    for row in courses.to_dict("records"):
        for required in ("externalId", "name", "launchUrl"):
            assert isinstance(row[required], str) and row[required].strip()
        assert row["defaultLang"] in LANGS
        assert pd.isna(row["duration"]) or 1 <= int(row["duration"]) <= 100_000
        assert isinstance(row["subjects"], list) and all(isinstance(s, str) and s for s in row["subjects"])
        assert row["sources"] and all(isinstance(s["name"], str) and s["name"] for s in row["sources"])
        assert row["_status"] == "keep"
    # every input row is either a course or has at least one quarantine row
    assert len(courses) <= len(records)
    if len(courses) < len(records):
        assert not result.quarantine.empty


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(enrollment_records, max_size=8))
def test_property_stats_never_raise_and_output_only_valid_rows(records: list[dict[str, Any]]) -> None:
    result = map_stats(pd.DataFrame(records), CTX)
    frame = result.stats
    assert list(frame.columns) == list(STAT_COLUMNS)
    assert frame["progress"].between(0, 100).all()
    assert frame["user_email"].str.contains("@").all() if len(frame) else True
    assert (frame["time_spent_ms"].dropna() >= 0).all()
    for column in ("first_activity_at", "last_activity_at", "completed_at"):
        values = frame[column].dropna()
        assert all(isinstance(v, pd.Timestamp) and str(v.tz) == "UTC" for v in values)
    assert len(frame) <= len(records)
    if len(frame) < len(records):
        assert not result.quarantine.empty
    # the row reference after "|" never carries the learner e-mail (row ids start with it)
    assert not result.quarantine["external_id"].astype(str).str.rsplit("|", n=1).str[-1].str.contains("@").any()


@pytest.mark.parametrize("frame", [pd.DataFrame({"id": [1, 2]}), pd.DataFrame({"extraMetadata.definition": [{"skills": "x"}, 3]})])
def test_catalog_wrong_types_in_whole_columns_are_quarantined_not_raised(frame: pd.DataFrame) -> None:
    result = map_catalog(frame, "contents", CTX)
    assert result.courses.empty and not result.quarantine.empty


def test_a_number_among_content_ids_is_no_course_id() -> None:
    odd = pd.DataFrame.from_records([ENROLLMENT, enrollment(contentId=12345)])  # a number among the ids
    assert map_stats(odd, CTX).stats["course_external_id"].tolist() == ["Course~r0GnHOZaEees-Q6jQMxlrg"]
