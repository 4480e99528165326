"""Udemy mapping rules (docs/rules/udemy.md; docs: D-01, D-08, D-11, D-12): pure, no HTTP."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from learnsync.lms360.models import COURSE_LANGS, ExternalCourse
from learnsync.providers.base import COURSE_FIELDS, COURSE_META, STAT_COLUMNS, MappingContext
from learnsync.providers.kit import cleaning as clean
from learnsync.providers.udemy import PROVIDER
from learnsync.providers.udemy.mapping import (
    _best_video,
    _extras,
    _largest_image,
    _largest_of,
    _quality,
    map_catalog,
    map_stats,
)

CTX = MappingContext(owner_lang="fr")


def course(**overrides) -> dict:
    """Sample 6.1, trimmed."""
    base = {
        "_class": "course",
        "id": 1565838,
        "title": "The Complete Python Bootcamp",
        "description": "<p>Learn Python like a professional...</p>",
        "url": "https://acme.udemy.com/course/complete-python-bootcamp/",
        "estimated_content_length": 1320,
        "categories": ["Development"],
        "instructors": ["Jose Portilla"],
        "locale": {"_class": "locale", "locale": "en_US"},
        "images": {
            "size_100x100": "https://img-c.udemycdn.com/course/100x100/1565838_e54e.jpg",
            "size_750x422": "https://img-c.udemycdn.com/course/750x422/1565838_e54e.jpg",
            "size_240x135": "https://img-c.udemycdn.com/course/240x135/1565838_e54e.jpg",
        },
        "promo_video_url": [
            {"type": "video/mp4", "label": "360", "file": "https://mp4-c.udemycdn.com/promo_360.mp4"},
            {"type": "video/mp4", "label": "720", "file": "https://mp4-c.udemycdn.com/promo_720.mp4"},
        ],
    }
    return base | overrides


def path(**overrides) -> dict:
    """Sample 6.2."""
    base = {
        "id": 4412,
        "title": "Data Analyst Onboarding",
        "description": "<p>Six weeks to get productive with SQL and Python.</p>",
        "url": "https://acme.udemy.com/learning-paths/4412/",
        "last_modified": "2025-10-02T16:01:05Z",
        "estimated_content_length": 1860,
        "editors": [{"display_name": "Camille Martin", "email": "camille.martin@acme.com"}],
        "thumbnail": {"size_240x135": "https://img/lp/240.jpg", "size_480x270": "https://img/lp/480.jpg"},
        "sections": [
            {"id": 2, "title": "Python", "order": 2, "items": [
                {"id": 9, "title": "Python for Data", "url": "https://acme.udemy.com/course/py/", "order": 1}]},
            {"id": 1, "title": "SQL foundations", "order": 1, "items": [
                {"id": 77001, "type": "course", "title": "The Complete SQL Bootcamp",
                 "url": "https://acme.udemy.com/course/the-complete-sql-bootcamp/", "order": 1}]},
        ],
    }
    return base | overrides


def activity(**overrides) -> dict:
    """Sample 6.3, first row."""
    base = {
        "user_email": "Alice.Durand@acme.com",
        "course_id": 1565838,
        "completion_ratio": 40,
        "num_video_consumed_minutes": 12.5,
        "course_enroll_date": "2025-09-02T08:14:00Z",
        "course_start_date": "2025-09-02T08:20:11Z",
        "course_completion_date": None,
        "course_last_accessed_date": "2025-11-05T18:40:02Z",
    }
    return base | overrides


def courses(*records: dict, ctx: MappingContext = CTX, stream: str = "courses") -> pd.DataFrame:
    return map_catalog(pd.DataFrame(list(records)), stream, ctx).courses


def one(*records: dict, **kw) -> pd.Series:
    frame = courses(*records, **kw)
    assert len(frame) == 1
    return frame.iloc[0]


def stats(*records: dict):
    return map_stats(pd.DataFrame(list(records)), CTX)


# --------------------------------------------------------------------------- courses


@pytest.mark.rule("UDEMY-03")
def test_rule_course_id_is_external_id():
    assert one(course(id=1565838))["externalId"] == "1565838"


@pytest.mark.rule("UDEMY-04")
def test_rule_course_title_is_name_and_original_title_is_kept():
    row = one(course(title="  The Complete Python Bootcamp "))
    assert row["name"] == "The Complete Python Bootcamp"
    assert row["_extra"]["title"] == "The Complete Python Bootcamp"


@pytest.mark.rule("UDEMY-05")
def test_rule_course_description_is_copied_unchanged():
    assert one(course())["description"] == "<p>Learn Python like a professional...</p>"


@pytest.mark.rule("UDEMY-06")
def test_decision_11_course_image_is_the_largest_image():
    assert one(course())["imageUrl"].endswith("750x422/1565838_e54e.jpg")


@pytest.mark.rule("UDEMY-06")
def test_decision_11_largest_image_compares_area_and_height_only_sizes():
    images = {"size_125_H": "https://img/125h.jpg", "size_304x171": "https://img/304.jpg", "size_200_H": "https://img/200h.jpg"}
    assert one(course(images=images))["imageUrl"] == "https://img/200h.jpg"
    assert one(course(images=None))["imageUrl"] is None


@pytest.mark.rule("UDEMY-07")
def test_rule_course_duration_is_estimated_content_length_in_minutes():
    assert one(course(estimated_content_length=1320))["duration"] == 1320


@pytest.mark.parametrize(("raw", "minutes"), [(0.4, 1), (12.5, 13), (0, None), (-5, None), ("90", 90), (None, None), (10**7, 100_000)])
@pytest.mark.rule("UDEMY-07")
def test_decision_8_duration_is_whole_minutes_at_least_one_or_missing(raw, minutes):
    value = one(course(estimated_content_length=raw))["duration"]
    assert (pd.isna(value) and minutes is None) or value == minutes


@pytest.mark.rule("UDEMY-08")
def test_rule_course_instructors_are_authors_kept_in_extra():
    row = one(course(instructors=["Jose Portilla", "Pierian Training", "Jose Portilla"]))
    assert row["_extra"]["authors"] == ["Jose Portilla", "Pierian Training"]


@pytest.mark.parametrize(
    ("locale", "lang"),
    [("en_US", "en"), ("en-US", "en"), ("pt_BR", "pt_BR"), ("pt-BR", "pt_BR"), ("fr_CA", "fr_CA"), ("es_MX", "es_MX"),
     ("es_ES", "es"), ("zh_TW", "zh_tw"), ("he_IL", "he_IL"), ("en_GB", "en_GB"), ("ja_JP", "ja"), ("nb_NO", "no")],
)
@pytest.mark.rule("UDEMY-09")
def test_rule_course_locale_is_the_v2_language(locale, lang):
    assert one(course(locale={"locale": locale}))["defaultLang"] == lang


@pytest.mark.parametrize("locale", [None, {}, {"locale": None}, {"locale": ""}, {"locale": "sq_AL"}, {"locale": "eo"}, "junk"])
@pytest.mark.rule("UDEMY-09")
def test_rule_course_without_language_uses_owner_language(locale):
    assert one(course(locale=locale), ctx=MappingContext(owner_lang="pt-BR"))["defaultLang"] == "pt_BR"


@pytest.mark.rule("UDEMY-09")
def test_rule_course_locale_read_from_flattened_column_too():
    record = course()
    record.pop("locale")
    record["locale.locale"] = "de_DE"
    assert one(record)["defaultLang"] == "de"


@pytest.mark.rule("UDEMY-10")
def test_rule_categories_are_tags_only_when_tags_sync_is_enabled():
    off = one(course(categories=["Development", "IT & Software"]))
    on = one(course(categories=["Development", "IT & Software"]), ctx=MappingContext(options={"tags_sync": True}))
    assert off["_tags"] == []
    assert on["_tags"] == ["Development", "IT & Software"]


@pytest.mark.rule("UDEMY-10", "V2-04")
def test_decision_1_categories_are_subjects_and_only_v2_fields_are_sent():
    frame = courses(course(categories=["Development", "", 3]))
    assert frame.iloc[0]["subjects"] == ["Development"]
    assert list(frame.columns) == list(COURSE_FIELDS + COURSE_META)
    assert one(course(categories=None))["subjects"] == []


@pytest.mark.rule("UDEMY-11")
def test_rule_promo_video_is_the_highest_quality_video_url():
    assert one(course())["_extra"]["videoUrl"] == "https://mp4-c.udemycdn.com/promo_720.mp4"
    videos = [{"label": "Auto", "file": "https://v/auto.mp4"}, {"label": "1080p", "file": "https://v/1080.mp4"}]
    assert one(course(promo_video_url=videos))["_extra"]["videoUrl"] == "https://v/1080.mp4"
    assert "videoUrl" not in one(course(promo_video_url=None))["_extra"]


@pytest.mark.rule("UDEMY-12")
def test_rule_content_is_played_on_udemy_from_the_course_url():
    row = one(course())
    assert row["launchUrl"] == "https://acme.udemy.com/course/complete-python-bootcamp/"
    assert row["sources"] == [{"name": "Udemy"}]
    assert row["contentType"] == "course"
    assert row["_skills"] is None


@pytest.mark.rule("UDEMY-02")
def test_rule_all_available_courses_are_synced():
    frame = courses(course(id=1), course(id=2), course(id=3))
    assert list(frame["_status"]) == ["keep"] * 3


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"id": None}, "externalId"), ({"title": "  "}, "name"), ({"title": None}, "name"),
     ({"url": None}, "launchUrl"), ({"url": "/course/relative/"}, "launchUrl")],
)
@pytest.mark.rule("UDEMY-13")
def test_required_v2_fields_missing_after_mapping_are_quarantined(overrides, field):
    result = map_catalog(pd.DataFrame([course(id=1), course(id=2, **overrides) if "id" not in overrides else course(**overrides)]), "courses", CTX)
    assert list(result.courses["externalId"]) == ["1"]
    assert result.quarantine.iloc[0]["field"] == field
    assert set(result.quarantine.columns) == {"external_id", "field", "reason"}


@pytest.mark.rule("UDEMY-09", "UDEMY-13")
def test_unusable_owner_language_quarantines_courses_without_locale():
    result = map_catalog(pd.DataFrame([course(locale=None)]), "courses", MappingContext(owner_lang="xx"))
    assert result.courses.empty and result.quarantine.iloc[0]["field"] == "defaultLang"


@pytest.mark.rule("UDEMY-13")
def test_duplicate_course_in_extract_is_ignored_once():
    result = map_catalog(pd.DataFrame([course(id=1), course(id=1.0, title="Again")]), "courses", CTX)
    assert len(result.courses) == 1 and result.courses.iloc[0]["name"] == "The Complete Python Bootcamp"
    assert result.ignored.iloc[0]["external_id"] == "1"


def test_empty_and_sparse_pages_are_handled():
    empty = map_catalog(pd.DataFrame(), "courses", CTX)
    assert empty.courses.empty and list(empty.courses.columns) == list(COURSE_FIELDS + COURSE_META)
    sparse = one({"id": 5, "title": "Only the basics", "url": "https://acme.udemy.com/course/basics/"})
    assert sparse["defaultLang"] == "fr" and sparse["subjects"] == [] and pd.isna(sparse["duration"])
    assert sparse["_extra"] == {"title": "Only the basics"}


# --------------------------------------------------------------------------- learning paths


def lp(**overrides) -> pd.Series:
    return one(path(**overrides), stream="learning_paths")


@pytest.mark.rule("UDEMY-01")
def test_rule_learning_paths_are_synced_only_when_enabled():
    assert "learning_paths" not in PROVIDER.catalog_streams(PROVIDER.default_options)
    assert "learning_paths" in PROVIDER.catalog_streams({"learning_paths_sync": True})


@pytest.mark.rule("UDEMY-15")
def test_decision_11_learning_path_id_is_namespaced():
    frame = map_catalog(pd.DataFrame([path(id=1565838)]), "learning_paths", CTX).courses
    assert frame.iloc[0]["externalId"] == "learning-path-1565838"


@pytest.mark.rule("UDEMY-16")
def test_decision_11_learning_path_name_has_the_prefix():
    assert lp()["name"] == "[Learning Path] Data Analyst Onboarding"
    assert lp()["_extra"]["title"] == "Data Analyst Onboarding"


@pytest.mark.rule("UDEMY-17")
def test_rule_learning_path_content_is_listed_as_links_in_description():
    description = lp(sections=path()["sections"] + [{"title": "<b>", "items": [{"title": "A & B", "url": "https://x/?a=1&b=2"}]}])["description"]
    assert description.startswith("<p>Six weeks to get productive with SQL and Python.</p>")
    assert description.index("SQL foundations") < description.index("Python for Data")  # section order
    assert '<a href="https://acme.udemy.com/course/the-complete-sql-bootcamp/">The Complete SQL Bootcamp</a>' in description
    assert '<a href="https://x/?a=1&amp;b=2">A &amp; B</a>' in description and "&lt;b&gt;" in description


@pytest.mark.rule("UDEMY-18")
def test_rule_learning_path_language_is_english_by_default():
    assert one(path(), stream="learning_paths", ctx=MappingContext(owner_lang="de"))["defaultLang"] == "en"


@pytest.mark.rule("UDEMY-19")
def test_rule_learning_path_thumbnail_is_the_image():
    assert lp()["imageUrl"] == "https://img/lp/480.jpg"
    assert lp(thumbnail="https://img/lp/plain.jpg")["imageUrl"] == "https://img/lp/plain.jpg"


@pytest.mark.rule("UDEMY-20")
def test_rule_learning_path_last_modified_is_modified_at():
    assert lp()["_extra"]["modifiedAt"] == "2025-10-02T16:01:05Z"


@pytest.mark.rule("UDEMY-20")
def test_rule_learning_path_editors_are_authors():
    assert lp()["_extra"]["authors"] == ["Camille Martin"]


@pytest.mark.rule("UDEMY-21")
def test_rule_learning_path_duration_is_in_minutes():
    assert lp()["duration"] == 1860


@pytest.mark.rule("UDEMY-21")
def test_rule_learning_path_launches_on_its_url_as_a_course():
    row = lp()
    assert row["launchUrl"] == "https://acme.udemy.com/learning-paths/4412/"
    assert row["contentType"] == "course" and row["sources"] == [{"name": "Udemy"}]


@pytest.mark.rule("UDEMY-14")
def test_rule_only_public_learning_paths_are_synced():
    result = map_catalog(pd.DataFrame([path(id=1), path(id=2, is_private_path=True)]), "learning_paths", CTX)
    assert list(result.courses["externalId"]) == ["learning-path-1"]
    assert result.ignored.iloc[0]["external_id"] == "learning-path-2"


# --------------------------------------------------------------------------- stats


@pytest.mark.rule("UDEMY-25")
def test_rule_stats_course_id_is_external_course_id():
    assert stats(activity()).stats.iloc[0]["course_external_id"] == "1565838"


@pytest.mark.rule("UDEMY-26")
def test_rule_stats_learner_is_matched_by_lower_cased_email():
    assert stats(activity(user_email=" Alice.Durand@ACME.com ")).stats.iloc[0]["user_email"] == "alice.durand@acme.com"


@pytest.mark.rule("UDEMY-27")
def test_rule_first_activity_is_start_date_else_enroll_date():
    started = stats(activity()).stats.iloc[0]["first_activity_at"]
    enrolled = stats(activity(course_start_date=None)).stats.iloc[0]["first_activity_at"]
    assert started == pd.Timestamp("2025-09-02T08:20:11Z")
    assert enrolled == pd.Timestamp("2025-09-02T08:14:00Z")


@pytest.mark.rule("UDEMY-28")
def test_rule_last_activity_is_course_last_accessed_date():
    row = stats(activity()).stats.iloc[0]
    assert row["last_activity_at"] == pd.Timestamp("2025-11-05T18:40:02Z")
    assert str(row["last_activity_at"].tz) == "UTC"


@pytest.mark.rule("UDEMY-29")
def test_rule_completed_at_is_course_completion_date():
    row = stats(activity(completion_ratio=100, course_completion_date="2025-11-05T18:40:02Z")).stats.iloc[0]
    assert row["completed_at"] == pd.Timestamp("2025-11-05T18:40:02Z") and row["progress"] == 100


@pytest.mark.rule("UDEMY-30")
def test_rule_progress_is_completion_ratio():
    assert stats(activity(completion_ratio=40)).stats.iloc[0]["progress"] == 40
    assert stats(activity(completion_ratio=40.6)).stats.iloc[0]["progress"] == 41


@pytest.mark.rule("UDEMY-31")
def test_rule_time_spent_is_video_minutes_times_60000():
    assert stats(activity(num_video_consumed_minutes=1204.5)).stats.iloc[0]["time_spent_ms"] == 72_270_000
    assert pd.isna(stats(activity(num_video_consumed_minutes=None)).stats.iloc[0]["time_spent_ms"])


@pytest.mark.rule("UDEMY-29")
def test_decision_11_completion_date_with_progress_below_100_counts_as_completed():
    row = stats(activity(completion_ratio=92, course_completion_date="2025-11-05T18:40:02Z")).stats.iloc[0]
    assert row["progress"] == 100


@pytest.mark.rule("UDEMY-30")
def test_decision_12_progress_outside_0_100_is_clamped_and_reported():
    result = stats(activity(completion_ratio=140), activity(completion_ratio=-3), activity(completion_ratio=50))
    assert list(result.stats["progress"]) == [100, 0, 50]
    assert result.skipped["progress_clamped"] == 2 and result.quarantine.empty


@pytest.mark.rule("UDEMY-32")
def test_decision_12_row_without_learner_email_is_quarantined():
    result = stats(activity(user_email=None), activity(user_email="  "), activity())
    assert len(result.stats) == 1
    assert list(result.quarantine["field"]) == ["user_email", "user_email"]
    assert all(key.startswith("1565838|") for key in result.quarantine["external_id"])


@pytest.mark.rule("UDEMY-32")
def test_decision_12_row_with_invalid_email_is_quarantined_without_logging_it():
    result = stats(activity(user_email="alice.durand-at-acme"))
    assert result.stats.empty and result.quarantine.iloc[0]["reason"] == "invalid learner e-mail"
    assert "alice" not in result.quarantine.to_string()


@pytest.mark.rule("UDEMY-33")
def test_decision_12_anonymized_user_rows_are_skipped_and_counted():
    result = stats(activity(user_email="Anonymized User"), activity(user_email="anonymized user"), activity())
    assert len(result.stats) == 1 and result.quarantine.empty
    assert result.skipped["anonymized_user"] == 2


@pytest.mark.rule("UDEMY-30")
def test_stats_missing_progress_is_quarantined_unless_completed():
    result = stats(activity(completion_ratio="n/a"), activity(completion_ratio=None, course_completion_date="2025-11-05T18:40:02Z"))
    assert list(result.stats["progress"]) == [100]
    assert result.quarantine.iloc[0]["field"] == "completion_ratio"


def test_stats_empty_page_has_the_contract_columns():
    result = map_stats(pd.DataFrame(), CTX)
    assert list(result.stats.columns) == list(STAT_COLUMNS) and result.stats.empty
    assert result.skipped == {"anonymized_user": 0, "progress_clamped": 0}


@pytest.mark.rule("UDEMY-24")
def test_rule_content_sync_at_7_30_and_stats_at_7_45_paris_time():
    assert (PROVIDER.content_cron, PROVIDER.stats_cron, PROVIDER.timezone) == ("30 7 * * *", "45 7 * * *", "Europe/Paris")


# --------------------------------------------------------------------------- properties

ANY = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**12), 10**12), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(["en_US", "pt-BR", "https://x.y/z", "2025-11-05T18:40:02Z", "Anonymized User", "a@b.co"]),
    st.lists(st.one_of(st.text(max_size=5), st.integers()), max_size=3), st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
)
DATES = st.one_of(ANY, st.datetimes().map(lambda d: d.isoformat() + "Z"), st.dates().map(str), st.just("9999-99-99"))
COURSE_KEYS = ("id", "title", "url", "description", "estimated_content_length", "locale", "images", "categories", "instructors", "promo_video_url")
ACTIVITY_KEYS = ("user_email", "course_id", "completion_ratio", "num_video_consumed_minutes")
DATE_KEYS = ("course_enroll_date", "course_start_date", "course_completion_date", "course_last_accessed_date")


def _wire(item: dict) -> dict:
    """A mapped row as the engine would send it: missing optional fields dropped."""
    present = {k: v for k, v in item.items() if isinstance(v, list) or not pd.isna(v)}
    return present | ({"duration": int(present["duration"])} if "duration" in present else {})


def _partial(keys: tuple[str, ...], values: st.SearchStrategy) -> st.SearchStrategy:
    return st.fixed_dictionaries({}, optional={k: values for k in keys})


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(st.one_of(_partial(COURSE_KEYS, ANY), st.builds(course)), max_size=8), stream=st.sampled_from(["courses", "learning_paths"]), tags=st.booleans())
def test_property_catalog_never_raises_and_emits_only_valid_courses(records, stream, tags):
    raw = pd.DataFrame(records)
    result = map_catalog(raw, stream, MappingContext(owner_lang="en", options={"tags_sync": tags}))
    out = result.courses
    assert list(out.columns) == list(COURSE_FIELDS + COURSE_META)
    for row in out.itertuples(index=False):
        assert isinstance(row.externalId, str) and row.externalId
        assert isinstance(row.name, str) and row.name.strip()
        assert row.launchUrl.startswith(("http://", "https://"))
        assert row.defaultLang in COURSE_LANGS
        assert all(isinstance(s, str) and s for s in row.subjects)
        assert pd.isna(row.duration) or 1 <= row.duration <= 100_000
    for item in out[list(COURSE_FIELDS)].to_dict("records"):
        ExternalCourse.model_validate(_wire(item))  # the 360Learning request model accepts it
    accounted = len(out) + len(result.ignored) + result.quarantine["external_id"].nunique()
    assert accounted == len(raw)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(st.fixed_dictionaries({}, optional={**{k: ANY for k in ACTIVITY_KEYS}, **{k: DATES for k in DATE_KEYS}}) | st.builds(activity), max_size=8))
def test_property_stats_never_raise_and_emit_only_valid_rows(records):
    raw = pd.DataFrame(records)
    result = map_stats(raw, CTX)
    out = result.stats
    assert list(out.columns) == list(STAT_COLUMNS)
    assert out["progress"].between(0, 100).all() and out["progress"].notna().all()
    assert (out["time_spent_ms"].dropna() >= 0).all()
    assert out["user_email"].str.fullmatch(r"[^@\sA-Z]+@[^@\sA-Z]+\.[^@\sA-Z]+").all()
    for column in ("first_activity_at", "last_activity_at", "completed_at"):
        assert str(out[column].dt.tz) == "UTC"
    assert len(out) + result.skipped["anonymized_user"] + result.quarantine["external_id"].nunique() == len(raw)


# --------------------------------------------------------------------------- column-wise picks
# Image and video picks read their cells column by column: the same answers as the plain rules.

TEXTS = st.one_of(
    st.none(),
    st.text(max_size=10),
    st.sampled_from([
        "https://ok.example/a", " https://pad.example/b ", "http://", "https://", "HTTPS://UP.example", "https://a b",
        "https://a/\x85", "https://a/\u2028", "https://a/\x1c", "https://a/x\n", "\u3000https://a/x\u3000", "https://é.example",
        "ftp://x", "  ", "\x1c", " 42 ", "7",
    ]),
)


SIZE_KEYS = ["size_750x422", "size_480x270", "size_125_H", "size_200_H", "size_48x27", "size_27x48", "other", "x"]
IMAGE_VALUES = st.one_of(st.none(), st.integers(), TEXTS)


@settings(max_examples=150, deadline=None)
@given(cells=st.lists(st.one_of(st.none(), st.text(max_size=2), st.dictionaries(st.sampled_from(SIZE_KEYS), IMAGE_VALUES, max_size=4)), max_size=8))
def test_largest_image_is_the_frame_rule(cells):
    raw = pd.DataFrame({"images": pd.Series(cells, dtype=object)})
    dicts = [c if isinstance(c, dict) else {} for c in cells]
    sizes = pd.DataFrame.from_records(dicts, index=raw.index) if dicts else pd.DataFrame(index=raw.index)
    assert _largest_image(raw, "images", flat_prefix="image_").tolist() == _largest_of(sizes).tolist()


def _sorted_best_video(s: pd.Series) -> list:
    """The promo video rule as a sort: highest quality first, the first listed among equals."""
    rows = [(i, _quality(v.get("label")), v.get("file")) for i, c in zip(s.index, s) if isinstance(c, list) for v in c if isinstance(v, dict)]
    long = pd.DataFrame(rows, columns=["idx", "quality", "file"])
    long["file"] = clean.objects(clean.urls(long["file"].astype(object)))
    best = long.dropna(subset=["file"]).sort_values("quality", ascending=False, kind="stable").drop_duplicates("idx")
    found = pd.Series(best["file"].to_numpy(), index=best["idx"].to_numpy(), dtype=object).reindex(s.index)
    return found.where(found.notna(), None).tolist()


LABELS = st.one_of(st.none(), st.booleans(), st.integers(0, 2000), st.sampled_from(["720", "1080p", "Auto", "\u0667\u0662\u0660", "360", "720"]))
FILES = st.one_of(st.none(), st.integers(), st.sampled_from(["https://v/a", "https://v/b", " https://v/c ", "nope", "https://v/\u2028"]))
ENTRIES = st.one_of(st.fixed_dictionaries({}, optional={"label": LABELS, "file": FILES}), st.none(), st.text(max_size=2))


@settings(max_examples=150, deadline=None)
@given(cells=st.lists(st.one_of(st.none(), st.text(max_size=2), st.lists(ENTRIES, max_size=4)), max_size=8))
def test_best_video_is_the_sorted_rule(cells):
    s = pd.Series(cells, dtype=object)
    assert _best_video(s).tolist() == _sorted_best_video(s)


def test_extras_leave_out_missing_values_and_keep_the_key_order():
    index = pd.RangeIndex(4)
    extra = _extras(
        index,
        title=pd.Series(["a", None, "c", "d"], dtype=object),
        authors=pd.Series([["x"], [], ["y"], []], dtype=object),
        videoUrl=pd.Series([None, "https://v/1", "https://v/2", float("nan")], dtype=object),
    )
    assert extra.tolist() == [
        {"title": "a", "authors": ["x"]},
        {"videoUrl": "https://v/1"},
        {"title": "c", "authors": ["y"], "videoUrl": "https://v/2"},
        {"title": "d"},
    ]
    assert [list(e) for e in extra] == [["title", "authors"], ["videoUrl"], ["title", "authors", "videoUrl"], ["title"]]
