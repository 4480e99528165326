"""Coursera for Business sandbox (FastAPI): `create_app(CourseraSandboxConfig(...))`."""

from learnsync.sandboxes.coursera.app import CourseraSandboxConfig, create_app
from learnsync.sandboxes.coursera.data import CourseraData, CourseraStore, generate

__all__ = ["create_app", "CourseraSandboxConfig", "CourseraData", "CourseraStore", "generate"]
