"""Coursera for Business sandbox (FastAPI): `create_app(CourseraSandboxConfig(...))`."""

from sandboxes.coursera.app import CourseraSandboxConfig, create_app
from sandboxes.coursera.data import CourseraData, CourseraStore, generate

__all__ = ["create_app", "CourseraSandboxConfig", "CourseraData", "CourseraStore", "generate"]
