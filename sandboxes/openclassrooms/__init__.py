"""OpenClassrooms sandbox: `create_app(OpenClassroomsSandboxConfig(...))`, data from `data.generate`."""

from learnsync.sandboxes.openclassrooms.app import OpenClassroomsSandboxConfig, create_app
from learnsync.sandboxes.openclassrooms.data import OpenClassroomsData, OpenClassroomsStore, generate

__all__ = ["OpenClassroomsSandboxConfig", "create_app", "OpenClassroomsData", "OpenClassroomsStore", "generate"]
