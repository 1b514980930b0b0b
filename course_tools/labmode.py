"""The learner's contents manager: the instructor's side of the course is neither listed nor served.

JupyterLab's ``hide_globs`` only filters directory listings by file name; a learner could still open
``assessments/source/...`` by path. This manager refuses every operation on the configured paths
(404, as if they did not exist) and leaves everything else to Jupyter's own file manager.
"""

from __future__ import annotations

import contextvars
import errno

from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from tornado import web
from jupyter_server.files.handlers import FilesHandler
from traitlets import List, Unicode, default


_LISTING = contextvars.ContextVar("listing", default=False)


class LearnerContentsManager(AsyncLargeFileManager):
    hidden_paths = List(Unicode(), config=True, help="paths (relative to the root) a learner must not see")

    @default("files_handler_class")
    def _files_handler_class_default(self):
        return FilesHandler            # /files/ goes through get() (the default handler reads the disk directly)

    @default("files_handler_params")
    def _files_handler_params_default(self):
        return {"path": self.root_dir}

    def _refused(self, path: str) -> bool:
        parts = [p for p in (path or "").replace("\\", "/").strip("/").split("/") if p not in ("", ".")]
        norm = "/".join(parts)
        return any(norm == h or norm.startswith(h.rstrip("/") + "/") for h in self.hidden_paths)

    def _check(self, path: str) -> None:
        if self._refused(path):
            raise web.HTTPError(404, f"file or directory does not exist: {path!r}")

    async def get(self, path, content=True, type=None, format=None, require_hash=False):
        if self._refused(path) and _LISTING.get():
            raise OSError(errno.EACCES, "hidden from learners")   # Jupyter's listing skips it silently
        self._check(path)
        return await super().get(path, content=content, type=type, format=format, require_hash=require_hash)

    async def _dir_model(self, path, content=True):
        token = _LISTING.set(True)
        try:
            return await super()._dir_model(path, content=content)
        finally:
            _LISTING.reset(token)

    async def save(self, model, path=""):
        self._check(path)
        return await super().save(model, path)

    async def delete_file(self, path):
        self._check(path)
        return await super().delete_file(path)

    async def rename_file(self, old_path, new_path):
        self._check(old_path)
        self._check(new_path)
        return await super().rename_file(old_path, new_path)

    async def new(self, model=None, path=""):
        self._check(path)
        return await super().new(model, path)

    async def copy(self, from_path, to_path=None):
        self._check(from_path)
        if to_path is not None:
            self._check(to_path)
        return await super().copy(from_path, to_path)

    async def is_hidden(self, path):
        return self._refused(path) or await super().is_hidden(path)

    async def file_exists(self, path=""):
        return not self._refused(path) and await super().file_exists(path)

    async def dir_exists(self, path):
        return not self._refused(path) and await super().dir_exists(path)
