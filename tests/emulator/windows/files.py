"""Placeholder: the file system subsystem (files, directories, owners, ACLs)."""
from __future__ import annotations


class FileSystem:
    def __init__(self):
        pass

    def state(self) -> dict:
        return {}
