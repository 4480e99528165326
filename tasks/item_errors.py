"""Which item errors of a 360Learning bulk job are final, and which are worth sending again."""

from __future__ import annotations

# 360Learning answers these the same way however often the item is sent; any other error
# (internalError, a job's missing result, a refused batch) may pass, so the item is kept.
PERMANENT_ITEM_ERRORS = ("userNotFound",)
LOCAL_REJECTION = "invalid item (not sent)"  # lms360.client: refused before sending (the contract)


def is_permanent(message: str | None) -> bool:
    text = message or ""
    return text.startswith(LOCAL_REJECTION) or text.split(":", 1)[0].strip() in PERMANENT_ITEM_ERRORS


def is_unknown_learner(message: str | None) -> bool:
    return (message or "").split(":", 1)[0].strip() == "userNotFound"
