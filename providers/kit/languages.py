"""360Learning's course language enum and the one way a provider's locale is mapped onto it."""

from __future__ import annotations

from functools import lru_cache

from lms360.models import COURSE_LANGS

V2_LANGUAGES: frozenset[str] = COURSE_LANGS
_BY_LOWER = {code.lower(): code for code in V2_LANGUAGES}


@lru_cache(maxsize=4096)
def v2_language(code: str | None) -> str | None:
    """Provider locale -> v2 enum value: exact, then region (pt-BR -> pt_BR), then base (en-US ->
    en), then the single regional value of a base (he -> he_IL). Unknown -> None."""
    if not isinstance(code, str) or not code.strip():
        return None
    norm = code.strip().replace("-", "_").lower()
    if norm in _BY_LOWER:
        return _BY_LOWER[norm]
    base = norm.split("_", 1)[0]
    if base in _BY_LOWER:
        return _BY_LOWER[base]
    regional = [v for k, v in _BY_LOWER.items() if k.startswith(base + "_")]
    return regional[0] if len(regional) == 1 else None


def is_language_code(code: str) -> bool:
    """Whether a filter or provider value names a language 360Learning knows."""
    return v2_language(code) is not None
