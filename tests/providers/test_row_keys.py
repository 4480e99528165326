"""Quarantine labels of activity rows name the record, not its place in a page."""

import pandas as pd

from learnsync.providers.kit.row_keys import activity_labels


def labels(rows: list[dict], **kw) -> list[str]:
    raw = pd.DataFrame(rows)
    learner_id = raw["user_id"] if "user_id" in raw else None
    email = raw["email"] if "email" in raw else None
    return activity_labels(raw["course"], raw, learner_id, email, **kw).tolist()


def test_the_learner_id_names_the_row():
    assert labels([{"course": "c1", "user_id": "42", "email": "a@x.io"}]) == ["c1|42"]


def test_without_an_id_the_email_is_digested_never_written():
    (label,) = labels([{"course": "c1", "user_id": None, "email": "Ann@Example.com"}])
    assert label.startswith("c1|mail:") and "ann" not in label.lower() and "example" not in label
    # the same learner whatever the case of the address
    assert labels([{"course": "c1", "user_id": None, "email": "ann@example.com"}]) == [label]


def test_a_hidden_id_is_digested():
    (label,) = labels([{"course": "c1", "user_id": "ann@example.com~abc"}], hide_id=True)
    assert label.startswith("c1|") and "ann" not in label and len(label.split("|")[1]) == 12


def test_without_id_or_email_the_record_is_digested_and_stable_across_positions():
    a = {"course": "c1", "user_id": None, "email": None, "progress": "x"}
    b = {"course": "c2", "user_id": None, "email": None, "progress": "y"}
    first = labels([a, b])
    assert first[0].startswith("c1|row:") and first[0] != first[1].replace("c2", "c1")
    assert labels([{"course": "c0", "user_id": "7", "email": None}, b, a])[1:] == [first[1], first[0]]


def test_a_missing_course_and_a_repeated_record_are_still_told_apart():
    row = {"course": None, "user_id": None, "email": None, "progress": "x"}
    one, two = labels([row, dict(row)])
    assert one.startswith("?|row:") and two == one + "#2"
