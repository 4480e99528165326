"""Udemy Business sandbox: `create_app(UdemySandboxConfig(...))`, data from `data.generate`."""

from learnsync.sandboxes.udemy.app import UdemySandboxConfig, create_app
from learnsync.sandboxes.udemy.data import UdemyData, UdemyStore, generate

__all__ = ["UdemySandboxConfig", "UdemyData", "UdemyStore", "create_app", "generate"]
