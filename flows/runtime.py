"""Wiring: settings -> state store, provider spec, clients. One place, so flows stay short."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from learnsync.core.settings import EngineSettings as Settings
from learnsync.core.settings import Lms360Settings
from learnsync.providers.base import ProviderSpec
from learnsync.providers.registry import get_provider
from learnsync.providers.settings import load_settings
from learnsync.statestore.store import StateStore

_STORES: dict[str, StateStore] = {}


def state_store(url: str | None = None) -> StateStore:
    """One StateStore per URL per process (migrations run once)."""
    key = url or StateStore.default_url()
    if key not in _STORES:
        _STORES[key] = StateStore(key)
    return _STORES[key]


@dataclass
class Runtime:
    settings: Settings
    store: StateStore
    spec: ProviderSpec
    platform: str

    @classmethod
    def build(cls, provider: str, platform: str = "default", settings: Settings | None = None) -> Runtime:
        settings = settings or load_settings()
        return cls(settings=settings, store=state_store(settings.database_url), spec=get_provider(provider), platform=platform)

    @property
    def lms_settings(self) -> Lms360Settings:
        return platform_settings(self.settings, self.platform)

    def lms_client(self) -> Any:
        from learnsync.lms360.client import Lms360Client

        cfg = self.lms_settings
        return Lms360Client(
            cfg,
            max_upsert_batch=cfg.max_upsert_batch,
            max_stats_batch=cfg.max_stats_batch,
            bulk_submit_patience=cfg.bulk_submit_patience_seconds,
            bulk_wait_timeout=cfg.bulk_wait_timeout_seconds,
        )

    def provider_client(self) -> Any:
        return self.spec.make_client(self.settings.provider(self.spec.key))


def platform_settings(settings: Settings, platform: str) -> Lms360Settings:
    if platform == settings.lms360.platform or platform == "default":
        return settings.lms360
    if platform in settings.platforms:
        return settings.platforms[platform]
    raise KeyError(f"unknown 360Learning platform {platform!r}; configure LEARNSYNC_PLATFORMS")
