"""360Learning's course language enum and the one way a provider's locale is mapped onto it."""

from __future__ import annotations

from functools import lru_cache

# External-course language enum (80 values, as published; "el" appears twice in the spec).
V2_LANGUAGES: frozenset[str] = frozenset(
    "bg cs da de el en es fi fr hr ht_HT hu id it ja kar_MM ko lt mh_MH nl nl_BE no pl pt ro ru rw_RW sk "
    "sl so_SO sv sw_KE th ti_ET tr uk zh am_ET bn bs ca cy en_CA en_GB es_AR es_MX et fr_CA gu he_IL hy kk "
    "km lo lv mi mn_MN mr ms my_MM nn_NO or pa pt_BR pt_MZ rn_BI si ta te tl_PH ur uz yo_NG zh_tw hi sr ar "
    "vi zh_HANT".split()
)

_BY_LOWER = {code.lower(): code for code in V2_LANGUAGES}
# Provider spellings the rules below would not find (lower-case, "_" separator): retired ISO codes
# and script or region names of a v2 value.
ALIASES: dict[str, str] = {"nb": "no", "iw": "he_IL", "in": "id", "fil": "tl_PH", "zh_hk": "zh_HANT", "zh_cn": "zh", "zh_hans": "zh"}


@lru_cache(maxsize=4096)
def v2_language(code: str | None) -> str | None:
    """Provider locale -> v2 enum value: exact (any case, `-` or `_`: pt-BR -> pt_BR), then an
    alias (nb -> no), then the language part (en-US -> en), then the single regional value of a
    language (he -> he_IL). Unknown -> None. Every provider and the filters read locales so."""
    if not isinstance(code, str) or not code.strip():
        return None
    norm = code.strip().replace("-", "_").lower()
    for candidate in (norm, norm.split("_", 1)[0]):
        found = _BY_LOWER.get(candidate) or ALIASES.get(candidate)
        if found:
            return found
    base = norm.split("_", 1)[0]
    regional = [v for k, v in _BY_LOWER.items() if k.startswith(base + "_")]
    return regional[0] if len(regional) == 1 else None


def is_language_code(code: str) -> bool:
    """Whether a filter or provider value names a language 360Learning knows."""
    return v2_language(code) is not None
