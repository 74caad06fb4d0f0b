"""The wheel's build hook: compile the web UI's message catalogs into it.

The catalogs' source is ``webui/translations/<language>/LC_MESSAGES/messages.po``; the compiled ``.mo`` files
that Flask-Babel reads are not kept in git. A checkout's are compiled by ``make translations``; a wheel gets
its own, compiled here from the ``.po`` files at build time, so that every wheel — built from a fresh clone or
by ``pip wheel .`` — carries catalogs that match its sources. (An editable install reads the checkout's.)
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from hatchling.builders.hooks.plugin.interface import BuildHookInterface

CATALOGS = Path("webui") / "translations"


class CatalogBuildHook(BuildHookInterface):
    """Compiles every ``messages.po`` and adds the ``.mo`` beside it in the wheel."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Compile the catalogs into a scratch directory and include each at its place in the package."""
        if self.target_name != "wheel" or version == "editable":
            return
        self._scratch = Path(tempfile.mkdtemp(prefix="gridloop-catalogs-"))
        sources = sorted((Path(self.root) / CATALOGS).glob("*/LC_MESSAGES/messages.po"))
        if not sources:
            raise RuntimeError(f"no message catalogs under {CATALOGS}: the wheel would have no translations")
        for source in sources:
            relative = source.relative_to(self.root).with_suffix(".mo")
            compiled = self._scratch / relative
            compiled.parent.mkdir(parents=True, exist_ok=True)
            with source.open("rb") as po:
                catalog = read_po(po, locale=source.parent.parent.name)
            with compiled.open("wb") as mo:
                write_mo(mo, catalog)
            build_data["force_include"][str(compiled)] = relative.as_posix()

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        """Remove the scratch directory once the wheel is written."""
        scratch = getattr(self, "_scratch", None)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
