"""Edflex mapping rules (docs/rules/edflex.md; docs: D-01, D-02, D-08, D-09, D-12): pure, no HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from learnsync.providers.base import COURSE_FIELDS, COURSE_META, IGNORED_COLUMNS, QUARANTINE_COLUMNS, STAT_COLUMNS, MappingContext
from learnsync.providers.edflex import PROVIDER
from learnsync.providers.edflex.mapping import map_catalog, map_stats
from learnsync.providers.edflex.models import RESOURCE_RECORD_KEYS, STATISTIC_RECORD_KEYS, resource_record, statistic_record
from learnsync.providers.kit.languages import V2_LANGUAGES

CTX = MappingContext(owner_lang="fr", now=datetime(2026, 3, 1, tzinfo=UTC))


def resource(**overrides: Any) -> dict[str, Any]:
    """A valid flat resource record (what the client hands over), with overrides."""
    record: dict[str, Any] = {
        "id": "r-8f3a2c",
        "title": "Manager à distance",
        "description": "<p>Les clés.</p>",
        "language": "fr",
        "type": "mooc",
        "difficulty": "intermediate",
        "duration": "PT4H30M",
        "status": "open all year",
        "url": "https://acme.edflex.com/fr/resource/r-8f3a2c",
        "author_name": "Claire Lefèvre",
        "creator_name": "CNAM",
        "image_big_url": "https://cdn.edflex.com/b.jpg",
        "image_medium_url": "https://cdn.edflex.com/m.jpg",
        "image_small_url": "https://cdn.edflex.com/s.jpg",
        "categories": ["Management"],
        "category_ids": ["c-112"],
    }
    record.update(overrides)
    return record


def catalog(*records: dict[str, Any], ctx: MappingContext = CTX):
    return map_catalog(pd.DataFrame(list(records)), "resources", ctx)


def one_course(ctx: MappingContext = CTX, **overrides: Any) -> pd.Series:
    result = catalog(resource(**overrides), ctx=ctx)
    assert len(result.courses) == 1, (result.quarantine, result.ignored)
    return result.courses.iloc[0]


def stat(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": "st-55120",
        "userEmail": "Alice.Durand@acme.com",
        "resourceId": "r-8f3a2c",
        "status": "completed",
        "timeSpent": "PT3H55M",
        "firstActivityAt": "2025-10-14T07:58:00Z",
        "lastActivityAt": "2025-11-04T16:22:00Z",
        "completedAt": "2025-11-04T16:22:00Z",
    }
    record.update(overrides)
    return record


def stats(*records: dict[str, Any]):
    return map_stats(pd.DataFrame(list(records)), CTX)


def one_stat(**overrides: Any) -> pd.Series:
    result = stats(stat(**overrides))
    assert len(result.stats) == 1, result.quarantine
    return result.stats.iloc[0]


# -- content property mapping --------------------------------------------------------------


@pytest.mark.rule("V2-04")
def test_rule_output_follows_the_column_contracts() -> None:
    result = catalog(resource())
    assert list(result.courses.columns) == list(COURSE_FIELDS + COURSE_META)
    assert list(result.quarantine.columns) == list(QUARANTINE_COLUMNS)
    assert list(result.ignored.columns) == list(IGNORED_COLUMNS)


@pytest.mark.rule("EDFLEX-04")
def test_rule_external_id_is_the_edflex_resource_id() -> None:
    assert one_course()["externalId"] == "r-8f3a2c"
    assert one_course(id=4242)["externalId"] == "4242"


@pytest.mark.rule("EDFLEX-05")
def test_rule_content_title_becomes_course_name() -> None:
    assert one_course(title="  Pitch  ")["name"] == "Pitch"


@pytest.mark.rule("EDFLEX-06")
def test_rule_description_and_syllabus_become_description() -> None:
    assert one_course(syllabus="<ul><li>1</li></ul>")["description"] == "<p>Les clés.</p>\n\n<ul><li>1</li></ul>"
    assert one_course(description=None, syllabus="Plan")["description"] == "Plan"
    assert one_course()["description"] == "<p>Les clés.</p>"
    assert one_course(description="  ", syllabus=None)["description"] is None


@pytest.mark.rule("EDFLEX-07")
def test_rule_image_uses_big_then_medium_then_small_url() -> None:
    assert one_course()["imageUrl"] == "https://cdn.edflex.com/b.jpg"
    assert one_course(image_big_url=None)["imageUrl"] == "https://cdn.edflex.com/m.jpg"
    assert one_course(image_big_url=None, image_medium_url=None)["imageUrl"] == "https://cdn.edflex.com/s.jpg"
    assert one_course(image_big_url=None, image_medium_url=None, image_small_url=None)["imageUrl"] is None


@pytest.mark.rule("EDFLEX-08")
def test_rule_launch_url_is_the_resource_url() -> None:
    assert one_course()["launchUrl"] == "https://acme.edflex.com/fr/resource/r-8f3a2c"


@pytest.mark.parametrize("status", ["coming soon", "open all year", "opened", "Open All Year", "coming_soon"])
@pytest.mark.rule("EDFLEX-03")
def test_rule_statuses_coming_soon_open_all_year_opened_are_synced(status: str) -> None:
    assert one_course(status=status)["_status"] == "keep"


@pytest.mark.rule("EDFLEX-03")
def test_rule_resource_with_no_status_is_synced() -> None:  # (docs: D-09)
    assert one_course(status=None)["_status"] == "keep"
    assert one_course(status="")["_status"] == "keep"


@pytest.mark.parametrize("status", ["closed", "archived", "unavailable"])
@pytest.mark.rule("EDFLEX-03")
def test_rule_other_statuses_are_archived_or_ignored_by_the_engine(status: str) -> None:
    # The mapping flags it; the engine archives it if it was synced before and ignores it otherwise.
    assert one_course(status=status)["_status"] == "archive"


@pytest.mark.rule("EDFLEX-03")
def test_rule_archived_status_needs_only_the_id() -> None:
    course = one_course(status="closed", title=None, url=None)
    assert (course["externalId"], course["_status"]) == ("r-8f3a2c", "archive")


@pytest.mark.rule("EDFLEX-09")
def test_rule_categories_become_subjects() -> None:  # (docs: D-09)
    course = one_course(categories=["Management", {"id": "c-118", "name": "Soft skills"}, "Management", " "])
    assert course["subjects"] == ["Management", "Soft skills"]
    assert one_course(categories=None)["subjects"] == []


@pytest.mark.rule("EDFLEX-10")
def test_rule_categories_become_skills_when_skills_sync_is_enabled() -> None:
    ctx = MappingContext(owner_lang="fr", options={"skills_sync": True})
    assert one_course(ctx)["_skills"] == ["Management"]
    # Skills are replaced each sync: no category means no skill (manual skills are removed).
    assert one_course(ctx, categories=[])["_skills"] == []


@pytest.mark.rule("EDFLEX-10")
def test_rule_skills_are_left_alone_when_skills_sync_is_disabled() -> None:
    assert one_course()["_skills"] is None
    assert PROVIDER.default_options == {"skills_sync": False}


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (1, "beginner"), ("introductive", "beginner"), ("1 Introductive", "beginner"),
        (2, "intermediate"), ("Intermediate", "intermediate"), ("2", "intermediate"),
        (3, "advanced"), ("advanced", "advanced"), ("3 Advancd", "advanced"),
        (None, None), ("expert", None), (4, None),
    ],
)  # fmt: skip
@pytest.mark.rule("EDFLEX-11")
def test_rule_level_1_2_3_maps_to_beginner_intermediate_advanced(level: Any, expected: str | None) -> None:
    assert one_course(difficulty=level)["difficultyLevel"] == expected


@pytest.mark.rule("EDFLEX-12")
def test_rule_creator_and_platform_names_become_sources() -> None:  # (docs: D-09)
    assert one_course(platform_name="YouTube")["sources"] == [{"name": "CNAM"}, {"name": "YouTube"}]
    assert one_course(creator_name=None, platform_name="YouTube")["sources"] == [{"name": "YouTube"}]
    assert one_course(platform_name="CNAM")["sources"] == [{"name": "CNAM"}]
    assert one_course(creator_name=None)["sources"] == [{"name": "Edflex"}]  # v2 requires a source


@pytest.mark.parametrize(("kind", "expected"), [("article", "article"), ("MOOC", "mooc"), ("mooc", "mooc"),
                                                ("Podcast", "podcast"), ("video", "video")])  # fmt: skip
@pytest.mark.rule("EDFLEX-02")
def test_rule_content_types_article_mooc_podcast_video_are_synced(kind: str, expected: str) -> None:
    course = one_course(type=kind)
    assert course["contentType"] == expected
    assert course["_filter_type"] == expected


@pytest.mark.parametrize("kind", ["program", "role-play", "interactive", "top-voice", "assessment", "book"])
@pytest.mark.rule("EDFLEX-02")
def test_rule_other_content_types_are_ignored(kind: str) -> None:  # (docs: D-09)
    result = catalog(resource(type=kind))
    assert result.courses.empty and result.quarantine.empty
    assert result.ignored.to_dict("records") == [{"external_id": "r-8f3a2c", "reason": f"unsupported type {kind}"}]


@pytest.mark.parametrize(
    ("duration", "minutes"),
    [("PT4H30M", 270), ("PT45M", 45), ("P2DT3H", 3060), ("PT1H0M30S", 61), ("PT20S", 1), ("PT0.5H", 30),
     ("P1W", 10080), (5400, 90), ("5400", 90)],
)  # fmt: skip
@pytest.mark.rule("EDFLEX-13")
def test_rule_duration_is_the_estimated_duration_in_minutes(duration: Any, minutes: int) -> None:
    # ISO-8601 is Edflex's documented form; a bare number is read as seconds (like timeSpent).
    assert one_course(duration=duration)["duration"] == minutes


@pytest.mark.parametrize("duration", ["PT0M", "four hours", "PT", -60, None, [1]])
@pytest.mark.rule("EDFLEX-13")
def test_decision_8_duration_is_at_least_one_minute_or_missing(duration: Any) -> None:
    assert pd.isna(one_course(duration=duration)["duration"])


@pytest.mark.rule("EDFLEX-13")
def test_decision_8_duration_is_capped_to_the_v2_maximum() -> None:
    assert one_course(duration="P100W")["duration"] == 100_000


@pytest.mark.parametrize(
    ("language", "expected"),
    [("fr", "fr"), ("en_US", "en"), ("en-US", "en"), ("pt-BR", "pt_BR"), ("fr_CA", "fr_CA"), ("he", "he_IL"),
     ("zh-TW", "zh_tw"), ("km", "km"), ("EN", "en")],
)  # fmt: skip
@pytest.mark.rule("EDFLEX-14")
def test_rule_language_is_mapped_to_the_v2_language_enum(language: str, expected: str) -> None:
    assert one_course(language=language)["defaultLang"] == expected


@pytest.mark.parametrize("language", [None, "", "xx", 42])
@pytest.mark.rule("EDFLEX-14")
def test_rule_missing_language_falls_back_to_the_connector_owner_language(language: Any) -> None:
    course = one_course(language=language)
    assert course["defaultLang"] == "fr"  # CTX.owner_lang
    assert course["_filter_lang"] is None
    assert one_course(MappingContext(owner_lang="de-DE"), language=language)["defaultLang"] == "de"


@pytest.mark.parametrize(("field", "column", "value"), [("name", "title", None), ("name", "title", 12),
                                                        ("launchUrl", "url", ""), ("launchUrl", "url", "ftp://x")])  # fmt: skip
@pytest.mark.rule("EDFLEX-08")
def test_rule_required_v2_fields_missing_quarantine_the_row(field: str, column: str, value: Any) -> None:
    result = catalog(resource(**{column: value}), resource(id="r-ok"))
    assert result.courses["externalId"].tolist() == ["r-ok"]
    assert result.quarantine[["external_id", "field"]].to_dict("records") == [{"external_id": "r-8f3a2c", "field": field}]


@pytest.mark.rule("EDFLEX-02", "EDFLEX-08")
def test_rule_records_without_id_or_type_are_quarantined() -> None:
    result = catalog(resource(id=None), resource(id="r-2", type=None))
    assert result.courses.empty
    assert result.quarantine["field"].tolist() == ["id", "type"]


@pytest.mark.rule("EDFLEX-15")
def test_decision_1_values_without_v2_field_are_kept_in_extra() -> None:
    extra = one_course(language="xx")["_extra"]
    assert extra["authors"] == ["Claire Lefèvre"]
    assert extra["sourceLanguage"] == "xx"
    assert extra["categoryIds"] == ["c-112"]


@pytest.mark.rule("EDFLEX-16")
def test_rule_tags_are_not_set_by_edflex() -> None:
    assert one_course()["_tags"] == []


def test_sample_6_11_resource_maps_end_to_end() -> None:
    raw = {
        "id": "r-8f3a2c", "type": "resources",
        "attributes": {
            "title": "Manager à distance : les bons réflexes", "description": "<p>Les clés.</p>",
            "language": "fr", "type": "mooc", "difficulty": "intermediate", "duration": "PT4H30M",
            "status": "open all year", "author": {"fullName": "Claire Lefèvre"}, "creator": {"name": "CNAM"},
            "image": {"smallUrl": "https://s", "mediumUrl": "https://m", "bigUrl": "https://b"},
            "url": "https://acme.edflex.com/fr/resource/r-8f3a2c", "categories": [{"id": "c-112", "name": "Management"}],
        },
    }  # fmt: skip
    assert set(resource_record(raw)) == set(RESOURCE_RECORD_KEYS)
    course = catalog(resource_record(raw)).courses.iloc[0]
    assert course[list(COURSE_FIELDS[:11])].to_dict() == {
        "externalId": "r-8f3a2c", "name": "Manager à distance : les bons réflexes",
        "launchUrl": "https://acme.edflex.com/fr/resource/r-8f3a2c", "defaultLang": "fr",
        "subjects": ["Management"], "sources": [{"name": "CNAM"}], "description": "<p>Les clés.</p>",
        "imageUrl": "https://b", "duration": 270, "contentType": "mooc", "difficultyLevel": "intermediate",
    }  # fmt: skip


def test_empty_page_and_missing_columns_are_handled() -> None:
    empty = map_catalog(pd.DataFrame(), "resources", CTX)
    assert empty.courses.empty and list(empty.courses.columns) == list(COURSE_FIELDS + COURSE_META)
    sparse = catalog({"id": "r-1", "type": "video", "title": "T", "url": "https://x/1"})
    assert sparse.courses.iloc[0][["defaultLang", "subjects", "sources"]].tolist() == ["fr", [], [{"name": "Edflex"}]]


# -- statistics ------------------------------------------------------------------------------


@pytest.mark.rule("EDFLEX-19")
def test_rule_stats_carry_learner_email_and_course_id() -> None:
    row = one_stat()
    assert list(row.index) == list(STAT_COLUMNS)
    assert (row["user_email"], row["course_external_id"]) == ("alice.durand@acme.com", "r-8f3a2c")


@pytest.mark.rule("EDFLEX-20")
def test_rule_progress_is_100_when_completed() -> None:
    assert one_stat()["progress"] == 100


@pytest.mark.parametrize("status", ["in progress", "in_progress", "In Progress"])
@pytest.mark.rule("EDFLEX-20")
def test_rule_progress_is_50_when_in_progress(status: str) -> None:  # both spellings (docs: D-09)
    row = one_stat(status=status, completedAt=None)
    assert row["progress"] == 50
    assert pd.isna(row["completed_at"])


@pytest.mark.parametrize("status", ["started", None, "", 3])
@pytest.mark.rule("EDFLEX-20")
def test_rule_progress_is_0_otherwise(status: Any) -> None:
    assert one_stat(status=status, completedAt=None)["progress"] == 0


@pytest.mark.rule("EDFLEX-21")
def test_rule_completion_first_and_last_activity_dates_are_utc() -> None:
    row = one_stat(firstActivityAt="2025-10-14T09:58:00+02:00")
    assert row["first_activity_at"] == pd.Timestamp("2025-10-14T07:58:00Z")
    assert row["last_activity_at"] == pd.Timestamp("2025-11-04T16:22:00Z")
    assert row["completed_at"] == pd.Timestamp("2025-11-04T16:22:00Z")
    assert str(row["completed_at"].tz) == "UTC"


@pytest.mark.rule("EDFLEX-21")
def test_decision_2_completed_without_completion_date_uses_last_activity() -> None:
    assert one_stat(completedAt=None)["completed_at"] == pd.Timestamp("2025-11-04T16:22:00Z")


@pytest.mark.rule("EDFLEX-21")
def test_rule_completion_date_only_counts_for_completed_content() -> None:
    assert pd.isna(one_stat(status="in_progress")["completed_at"])


@pytest.mark.parametrize(("spent", "ms"), [("PT3H55M", 14_100_000), ("PT0H20M", 1_200_000), (1200, 1_200_000),
                                           ("90.5", 90_500), ("PT1.5S", 1_500)])  # fmt: skip
@pytest.mark.rule("EDFLEX-22")
def test_rule_time_spent_is_in_milliseconds(spent: Any, ms: int) -> None:
    assert one_stat(timeSpent=spent)["time_spent_ms"] == ms


@pytest.mark.parametrize("spent", [None, "soon", -5, {"h": 1}])
@pytest.mark.rule("EDFLEX-22")
def test_rule_unreadable_time_spent_is_missing(spent: Any) -> None:
    # The engine applies the >= 1 ms minimum and the first-attempt rule.
    assert pd.isna(one_stat(timeSpent=spent)["time_spent_ms"])


@pytest.mark.rule("EDFLEX-23")
def test_rule_missing_first_activity_is_left_to_the_engine_fallback() -> None:
    assert pd.isna(one_stat(firstActivityAt=None)["first_activity_at"])


@pytest.mark.parametrize("email", [None, "", "   "])
@pytest.mark.rule("EDFLEX-24")
def test_decision_12_row_without_learner_email_is_quarantined(email: Any) -> None:
    result = stats(stat(userEmail=email), stat(id="st-2"))
    assert len(result.stats) == 1
    assert result.quarantine.to_dict("records") == [
        {"external_id": "r-8f3a2c|st-55120", "field": "userEmail", "reason": "missing learner email"}
    ]


@pytest.mark.rule("EDFLEX-24")
def test_bad_learner_email_syntax_is_quarantined_without_echoing_it() -> None:
    result = stats(stat(userEmail="not-an-email"))
    assert result.stats.empty
    row = result.quarantine.iloc[0]
    assert (row["field"], row["reason"]) == ("userEmail", "invalid learner email")
    assert "not-an-email" not in " ".join(map(str, row.tolist()))


@pytest.mark.rule("EDFLEX-23")
def test_stats_without_course_or_any_activity_date_are_quarantined() -> None:
    result = stats(stat(resourceId=None), stat(id="st-2", firstActivityAt=None, lastActivityAt="garbage", completedAt=None,
                                               status="in_progress"))  # fmt: skip
    assert result.stats.empty
    assert result.quarantine["field"].tolist() == ["resourceId", "lastActivityAt"]
    assert result.quarantine["external_id"].tolist() == ["?|st-55120", "r-8f3a2c|st-2"]


@pytest.mark.rule("EDFLEX-25")
def test_decision_12_progress_is_clamped_and_reported() -> None:
    # Edflex progress comes from a status vocabulary, so it is always 0/50/100; the report key is kept.
    result = stats(stat(), stat(id="st-2", status="weird"))
    assert result.stats["progress"].between(0, 100).all()
    assert result.skipped == {"progress_clamped": 0}


def test_sample_6_14_statistics_map_end_to_end() -> None:
    raws = [
        {"id": "st-55120", "type": "statistics",
         "attributes": {"userEmail": "alice.durand@acme.com", "resourceId": "r-8f3a2c", "status": "completed",
                        "timeSpent": "PT3H55M", "firstActivityAt": "2025-10-14T07:58:00Z",
                        "lastActivityAt": "2025-11-04T16:22:00Z", "completedAt": "2025-11-04T16:22:00Z"}},
        {"id": "st-55121", "type": "statistics",
         "attributes": {"userEmail": "bob.martin@acme.com", "resourceId": "r-1d9e77", "status": "in_progress",
                        "timeSpent": "PT0H20M", "firstActivityAt": "2025-11-06T09:00:00Z",
                        "lastActivityAt": "2025-11-06T09:20:00Z", "completedAt": None}},
    ]  # fmt: skip
    records = [statistic_record(r) for r in raws]
    assert set(records[0]) == set(STATISTIC_RECORD_KEYS)
    out = map_stats(pd.DataFrame(records), CTX).stats
    assert out["progress"].tolist() == [100, 50]
    assert out["time_spent_ms"].tolist() == [14_100_000, 1_200_000]


def test_empty_stats_page_is_handled() -> None:
    result = map_stats(pd.DataFrame(), CTX)
    assert list(result.stats.columns) == list(STAT_COLUMNS) and result.stats.empty


# -- provider declaration ----------------------------------------------------------------------


@pytest.mark.rule("EDFLEX-01")
def test_rule_content_syncs_daily_at_8_and_statistics_at_8_20() -> None:
    assert (PROVIDER.content_cron, PROVIDER.stats_cron) == ("0 8 * * *", "20 8 * * *")


@pytest.mark.rule("EDFLEX-26")
def test_rule_statistics_before_deployment_are_retrieved_on_first_run() -> None:
    assert PROVIDER.stats_full_history_first_run is True


@pytest.mark.rule("EDFLEX-18")
def test_rule_content_gone_or_closed_is_archived_and_restored_when_back() -> None:
    assert (PROVIDER.archive_missing, PROVIDER.archive_on_provider_status, PROVIDER.restore_on_reappear) == (True,) * 3
    assert PROVIDER.catalog_streams({}) == ("resources",)
    assert (PROVIDER.key, PROVIDER.display_name) == ("edflex", "Edflex")


@pytest.mark.rule("EDFLEX-17")
def test_rule_resource_served_twice_syncs_its_last_copy() -> None:
    from learnsync.tasks.diff import drop_repeated_ids, prepare_extract

    result = catalog(resource(title="Old"), resource(title="New"))
    assert len(result.courses) == 2  # the mapping keeps both copies
    kept, ignored = drop_repeated_ids(prepare_extract(result.courses), PROVIDER.duplicates_keep)
    assert kept["f:name"].tolist() == ["New"] and ignored["external_id"].tolist() == ["r-8f3a2c"]


# -- properties: any raw record gives valid output or a quarantine/ignored row ----------------

_junk = st.one_of(
    st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.lists(st.text(max_size=4), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)  # fmt: skip
_durations = st.one_of(_junk, st.from_regex(r"P(\d{1,7}W)?(\d{1,4}D)?(T(\d{1,5}H)?(\d{1,6}M)?(\d{1,6}(\.\d)?S)?)?", fullmatch=True))
_dates = st.one_of(_junk, st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
                   st.sampled_from(["2025-02-30T00:00:00Z", "0000-01-01", "2025-11-04T16:22:00+14:00", "yesterday"]))  # fmt: skip
_resource = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(_junk, st.text(min_size=1, max_size=8)),
        "title": _junk, "description": _junk, "syllabus": _junk, "url": st.one_of(_junk, st.just("https://x.io/r")),
        "language": st.one_of(_junk, st.sampled_from(["fr", "en_US", "pt-BR", "zz", "he"])),
        "type": st.one_of(_junk, st.sampled_from(["article", "MOOC", "podcast", "video", "program"])),
        "status": st.one_of(_junk, st.sampled_from(["opened", "closed", "coming soon"])),
        "difficulty": st.one_of(_junk, st.sampled_from([1, 2, 3, "advanced"])), "duration": _durations,
        "creator_name": _junk, "platform_name": _junk, "author_name": _junk, "image_big_url": _junk,
        "image_small_url": _junk, "categories": st.one_of(_junk, st.lists(st.one_of(_junk, st.fixed_dictionaries({"name": _junk})), max_size=3)),
        "category_ids": _junk,
    },
)  # fmt: skip
_stat = st.fixed_dictionaries(
    {},
    optional={
        "id": _junk, "resourceId": st.one_of(_junk, st.just("r-1")),
        "userEmail": st.one_of(_junk, st.emails(), st.just("ALICE@Example.COM")),
        "status": st.one_of(_junk, st.sampled_from(["completed", "in_progress", "in progress"])),
        "timeSpent": _durations, "firstActivityAt": _dates, "lastActivityAt": _dates, "completedAt": _dates,
    },
)  # fmt: skip
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(records=st.lists(_resource, max_size=6), skills=st.booleans())
def test_property_any_resource_maps_to_a_valid_course_or_a_report_row(records: list[dict[str, Any]], skills: bool) -> None:
    ctx = MappingContext(owner_lang="fr", options={"skills_sync": skills})
    result = map_catalog(pd.DataFrame(records), "resources", ctx)
    courses = result.courses
    assert len(courses) + len(result.quarantine) + len(result.ignored) == len(records)
    assert courses["defaultLang"].isin(V2_LANGUAGES).all()
    assert courses["_status"].isin(["keep", "archive"]).all()
    assert courses["externalId"].map(lambda v: isinstance(v, str) and v != "").all()
    kept = courses[courses["_status"] == "keep"]
    for column in ("name", "launchUrl"):
        assert kept[column].map(lambda v: isinstance(v, str) and v.strip() != "").all()
    assert courses["subjects"].map(lambda v: isinstance(v, list) and all(isinstance(s, str) and s for s in v)).all()
    assert courses["sources"].map(lambda v: isinstance(v, list) and all(s["name"] for s in v)).all()
    duration = courses["duration"].dropna()
    assert duration.between(1, 100_000).all()
    assert courses["contentType"].isin(["article", "mooc", "podcast", "video"]).all()
    assert courses["difficultyLevel"].dropna().isin(["beginner", "intermediate", "advanced"]).all()


@PROPERTY
@given(records=st.lists(_stat, max_size=6))
def test_property_any_statistic_maps_to_a_valid_row_or_a_quarantine_row(records: list[dict[str, Any]]) -> None:
    result = map_stats(pd.DataFrame(records), CTX)
    out = result.stats
    assert list(out.columns) == list(STAT_COLUMNS)
    assert len(out) + len(result.quarantine) == len(records)
    assert out["progress"].between(0, 100).all()
    assert out["user_email"].str.contains("@").all()
    assert (out["user_email"] == out["user_email"].str.lower()).all()
    assert (out["time_spent_ms"].dropna() >= 0).all()
    for column in ("first_activity_at", "last_activity_at", "completed_at"):
        assert str(out[column].dt.tz) == "UTC"
    assert out["last_activity_at"].notna().all()


# -- typed statistic pages ------------------------------------------------------------------
# Pages as the client hands them (Arrow text, integer ids), odd values of those types included.
_typed_text = st.one_of(
    st.none(), st.text(max_size=6),
    st.sampled_from(["", "  ", "r-1", " R-1 ", "42", "ALICE@Example.COM", "a@b", "a b@c.de", "a@b.c\n", "İ@x.io", "completed",
                     "In Progress", "in_progress", " in--progress ", "started", "done+"]),
)  # fmt: skip
_exact_dates = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).map(
    lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}Z"
)
_typed_dates = st.one_of(
    st.none(), _exact_dates, _exact_dates, _exact_dates,
    st.sampled_from(["2025-02-30T00:00:00Z", "2025-13-01T00:00:00Z", "2025-01-01T24:00:00Z", "2025-01-01 10:00:00Z",
                     "2025-01-01t10:00:00Z", " 2025-01-01T00:00:0Z", "2025-01-01", "0001-01-01T00:00:00.1234567Z", "yesterday", ""]),
)  # fmt: skip
_typed_spent = st.one_of(st.none(), st.integers(-5, 10**6), _durations, st.sampled_from(["PT1,5H", "-PT1H", "pt5m", " 90 ", "four hours"]))


@st.composite
def _typed_statistic_frames(draw: st.DrawFn) -> pd.DataFrame:
    """Statistics pages as the client hands them: Arrow text columns, ids as text or integers,
    timeSpent mixing ISO text and seconds; odd values of those types included."""
    n = draw(st.integers(1, 8))

    def column(values: st.SearchStrategy[Any], dtype: str | None = "str") -> pd.Series:
        return pd.Series(draw(st.lists(values, min_size=n, max_size=n)), dtype=dtype)

    def ids() -> pd.Series:  # Edflex ids arrive as text or as integers
        return column(st.integers(-(2**63), 2**63 - 1), "int64") if draw(st.booleans()) else column(_typed_text)

    columns = {
        "id": ids(), "resourceId": ids(), "userEmail": column(_typed_text), "status": column(_typed_text),
        "timeSpent": column(_typed_spent, None), "firstActivityAt": column(_typed_dates), "lastActivityAt": column(_typed_dates),
        "completedAt": column(_typed_dates),
    }  # fmt: skip
    frame = pd.DataFrame({k: v for k, v in columns.items() if draw(st.integers(0, 9))}, index=pd.RangeIndex(n))  # some absent
    if draw(st.booleans()):  # pages concatenated without a new index
        frame.index = pd.Index(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    return frame


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_typed_statistic_frames())
def test_typed_statistic_pages_map_to_valid_rows_or_quarantine_rows(frame: pd.DataFrame) -> None:
    result = map_stats(frame, CTX)
    assert len(result.stats) + len(result.quarantine) == len(frame)
    assert result.stats["course_external_id"].notna().all() and result.stats["last_activity_at"].notna().all()
    assert result.stats["progress"].between(0, 100).all()
    for column in ("first_activity_at", "last_activity_at", "completed_at"):
        assert str(result.stats[column].dt.tz) == "UTC"
