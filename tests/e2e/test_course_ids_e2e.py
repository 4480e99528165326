"""The course id learnsync uses for tags, restores and sharing is the one 360Learning's
external-course get names, also where bulk resourceIds are something else."""

from __future__ import annotations

import pytest

from learnsync.flows.content_sync import content_sync
from learnsync.flows.lifecycle import configure_integration, share_courses
from tests.e2e.helpers import provider_store, run, store, synced_courses

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]
OPAQUE = {
    "providers": ["udemy"],
    "configs": {"udemy": {"n_courses": 20, "n_learning_paths": 0, "n_activities": 0}, "lms360": {"course_resource_ids": "opaque"}},
}


@pytest.mark.parametrize("fleet", [OPAQUE], indirect=True)
@pytest.mark.rule("V2-22")
def test_tags_restores_and_sharing_use_the_real_course_ids_when_resource_ids_are_not_them(fleet):
    run(configure_integration(provider="udemy", options={"tags_sync": True}))
    report = run(content_sync(provider="udemy"))
    assert report["counts"]["failed"] == 0 and report["counts"]["created"] == 20
    assert any("do not carry the course ids" in n for n in report["notes"])
    courses = synced_courses(fleet)
    state = store().load_courses(store().get_integration("udemy")["id"]).set_index("external_id")
    assert all(state.at[e, "course_id"] == c["courseId"] for e, c in courses.items())
    assert sum(bool(c["tags"]) for c in courses.values()) > 0  # tags were put on the right courses

    gone = sorted(courses)[0]
    udemy = provider_store(fleet, "udemy")
    raw = udemy.course(int(gone))
    udemy.remove_course(int(gone))
    run(content_sync(provider="udemy"))
    udemy.upsert_course(raw)
    back = run(content_sync(provider="udemy"))
    assert back["counts"]["restored"] == 1 and synced_courses(fleet)[gone]["status"] == "published"

    shared = run(share_courses(provider="udemy", group_ids=["62be0535045424d93edaad7c"]))
    assert shared["shared"]["catalog"] == len(courses)
