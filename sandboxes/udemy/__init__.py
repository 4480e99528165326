"""Udemy Business sandbox: `create_app(UdemySandboxConfig(...))`, data from `data.generate`."""

from sandboxes.udemy.app import UdemySandboxConfig, create_app
from sandboxes.udemy.data import UdemyData, UdemyStore, generate

__all__ = ["UdemySandboxConfig", "UdemyData", "UdemyStore", "create_app", "generate"]
