"""Library errors. Their message is shown to the user as is, so it is Vietnamese."""

from __future__ import annotations


class ThiDuaError(Exception):
    """An expected problem that stops a command (bad argument, broken configuration, locked file)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class CatalogueError(ThiDuaError):
    """The catalogue or the configuration data is broken; the message names the file and the entry."""

    def __init__(self, path: object, entry: str, problem: str):
        super().__init__(f"Danh mục {path} không hợp lệ — mục {entry}: {problem}")
        self.path = str(path)
        self.entry = entry
        self.problem = problem
