"""Process models on disk: which folders hold a model, and the files each deploys.

The documented layout (README, "For designers") is one folder per process model under ``processes/``, as
SpiffArena groups its models::

    processes/grid_event/process_model.json     the model: id, name, description, who may start it
    processes/grid_event/grid_event.bpmn        its BPMN (with the diagram), the processes it calls,
    processes/grid_event/dispatch_routing.dmn   its DMN tables and its own forms
    forms/report.json                           forms shared between models

A model's file set is every ``.bpmn``, ``.dmn``, ``.json`` and ``.form`` file of its folder, and the shared
forms of ``forms/`` its BPMN names (``formJsonSchemaFilename``, ``formUiSchemaFilename``, ``camunda:formKey``)
that the folder does not hold itself — so a version holds exactly what it runs, and changing one model's
form does not make a new version of another. A ``processes/`` folder holding BPMN files directly (the way a
set drawn elsewhere arrives) is one model too. Keys are paths relative to the root with forward slashes
(``processes/grid_event/grid_event.bpmn``), so a content hash does not depend on where the checkout lives.

This module only reads; :mod:`engine.bpmn.definitions` checks what it read.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from engine.bpmn.definitions import (
    BPMN_NS,
    MODEL_FILE,
    DefinitionError,
    Problem,
    ProcessBundle,
    build_bundle,
    in_line_order,
    model_id_of,
    ui_schema_warnings,
    validate_files,
)
from engine.bpmn.labels import missing_labels

DEFINITION_SUFFIXES = (".bpmn", ".dmn", ".json", ".form")
# Definition files may come from anyone: never expand entities or fetch anything.
_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)
# the form file names a BPMN file refers to, in either dialect
_FORM_REFERENCE = re.compile(
    r'name="form(?:JsonSchema|UiSchema)Filename"\s+value="([^"]+)"|formKey="(?:[\w-]+:deployment:)?([^":]+)"'
)


@dataclass(frozen=True)
class ModelFiles:
    """One process model's folder and the files it deploys (path → text)."""

    model_id: str
    folder: Path
    files: dict[str, str]


def model_folders(root: Path) -> list[Path]:
    """The model folders under ``root``: ``processes/`` itself when it holds BPMN files, then each of its
    sub-folders that does, by name."""
    processes = Path(root) / "processes"
    if not processes.is_dir():
        return []
    found = [processes] if any(processes.glob("*.bpmn")) else []
    return found + sorted(d for d in processes.iterdir() if d.is_dir() and any(d.glob("*.bpmn")))


def collect_models(root: Path, shown: Path | None = None) -> list[ModelFiles]:
    """Every process model under ``root`` with its files; DefinitionError with every problem (a file that is
    not UTF-8, a folder whose model cannot be named, two folders of one id). ``shown`` prefixes the names."""
    models, problems = _models(Path(root), shown)
    if problems:
        raise DefinitionError(problems)
    return models


def models_at(path: Path) -> list[ModelFiles]:
    """The process models a deploy of ``path`` deploys: every model of a root holding ``processes/``; the one
    model of a model folder (``root/processes/<model>``, named as under its root, with the root's shared
    forms); DefinitionError with every problem."""
    path = Path(path)
    if (path / "processes").is_dir():
        return collect_models(path)
    root = _root_above(path)
    if root is None or not path.is_dir():
        raise DefinitionError(
            [
                Problem(
                    str(path),
                    None,
                    None,
                    "neither a folder holding processes/ nor a model folder processes/<model>/ — name one",
                )
            ]
        )
    files, problems = _folder_files(root, path, None)
    model_id, problem = model_id_of(files, path.relative_to(root).as_posix(), path.name)
    if problem is not None:
        problems.append(problem)
    if problems:
        raise DefinitionError(problems)
    return [ModelFiles(model_id, path, files)]


def collect_files(root: Path, model: str | None = None) -> dict[str, str]:
    """The files of the model ``model`` under ``root`` (None: of its only model); DefinitionError when the
    files cannot be read or the model is not there."""
    models = collect_models(root)
    chosen = [m for m in models if model is None or m.model_id == model]
    if len(chosen) != 1:
        ids = ", ".join(m.model_id for m in models) or "none"
        what = f"no process model '{model}'" if model is not None else "not one process model"
        raise DefinitionError(
            [
                Problem(
                    str(Path(root) / "processes"),
                    None,
                    model,
                    f"{what} here (found: {ids}) — name one of them",
                )
            ]
        )
    return chosen[0].files


def _models(root: Path, shown: Path | None) -> tuple[list[ModelFiles], list[Problem]]:
    models: list[ModelFiles] = []
    problems: list[Problem] = []
    seen: dict[str, Path] = {}
    for folder in model_folders(root):
        files, unreadable = _folder_files(root, folder, shown)
        problems += unreadable
        model_id, problem = model_id_of(files, folder.relative_to(root).as_posix(), folder.name)
        if problem is not None:
            if not unreadable:  # a BPMN file that could not be read is the reason, said already
                problems.append(problem)
            continue
        if model_id in seen:
            problems.append(
                Problem(
                    (shown / folder.relative_to(root)).as_posix()
                    if shown
                    else folder.relative_to(root).as_posix(),
                    None,
                    model_id,
                    f"process model '{model_id}' is also in {seen[model_id].relative_to(root).as_posix()} — "
                    "give one of the folders another id",
                )
            )
            continue
        seen[model_id] = folder
        models.append(ModelFiles(model_id, folder, files))
    return models, problems


def _folder_files(root: Path, folder: Path, shown: Path | None) -> tuple[dict[str, str], list[Problem]]:
    """A model folder's files and the shared forms of ``root/forms`` they name."""
    paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in DEFINITION_SUFFIXES)
    files, problems = _read_all(root, paths, shown)
    named = {ref for name, text in files.items() if name.endswith(".bpmn") for ref in _form_references(text)}
    own = {posixpath.basename(name) for name in files}
    shared = root / "forms"
    extra = [shared / name for name in sorted(named - own) if (shared / name).is_file()]
    more, unreadable = _read_all(root, extra, shown)
    files.update(more)
    return files, problems + unreadable


def _form_references(text: str) -> set[str]:
    return {a or b for a, b in _FORM_REFERENCE.findall(text) if (a or b)}


def _read_all(root: Path, paths: Iterable[Path], shown: Path | None) -> tuple[dict[str, str], list[Problem]]:
    files: dict[str, str] = {}
    problems: list[Problem] = []
    for path in paths:
        relative = path.relative_to(root).as_posix()
        name = (shown / relative).as_posix() if shown is not None else relative
        text, problem = read_text(path, name)
        if problem is not None:
            problems.append(problem)
        elif text is not None:
            files[name] = text
    return files, problems


def read_text(path: Path, name: str) -> tuple[str | None, Problem | None]:
    """The text of a definition file, or the problem that it is not UTF-8 (the line of its first bad byte):
    deployments store, hash and serve the files as UTF-8 text, as bpmn.io, Camunda Modeler and dmn-js save them."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        return None, Problem(
            name,
            line,
            None,
            f"the file is not UTF-8 (byte 0x{data[err.start]:02x} at line {line}) — save it as UTF-8 "
            '(and declare encoding="UTF-8" in an XML file)',
        )


# ----------------------------------------------------------------------------------- the command line


@dataclass(frozen=True)
class CheckedSet:
    """One set of files ``gridloop validate`` checks on its own: a model (``model_id``) or loose files."""

    model_id: str | None
    files: dict[str, str]


def sets_at(paths: Iterable[Path]) -> tuple[list[CheckedSet], list[Problem]]:
    """The file sets at the paths named on the command line, each checked on its own, by the names given, and
    the problems of reading them.

    A directory holding ``processes/`` contributes each of its models (and, without any, the forms of its
    ``forms/``); a model folder (``processes/<model>/``, or one holding a model file) its model with the shared forms of the
    nearest ``forms/`` above it; another directory its own ``.bpmn``, ``.dmn`` and ``.json`` files as one set.
    A single BPMN file is checked with the DMN files, forms and called processes beside it and the forms of
    the nearest ``forms/`` above it, which is where its references point.
    """
    sets: list[CheckedSet] = []
    problems: list[Problem] = []
    loose: dict[str, str] = {}
    for path in map(Path, paths):
        if path.is_dir() and path.name == "processes" and not any(path.glob("*.bpmn")):
            models, unreadable = _models(path.parent, shown=path.parent)  # the models' folders' folder
            problems += unreadable
            sets += [CheckedSet(m.model_id, m.files) for m in models]
            continue
        if path.is_dir() and ((path / "processes").is_dir() or (path / "forms").is_dir()):
            models, unreadable = _models(path, shown=path)
            problems += unreadable
            sets += [CheckedSet(m.model_id, m.files) for m in models]
            if not models:
                shared = sorted((path / "forms").glob("*.json"))
                files, unreadable = _read_all(path, shared, path)
                problems += unreadable
                loose.update(files)
            continue
        root = _root_above(path) if path.is_dir() else None
        if path.is_dir() and (root is not None or (path / MODEL_FILE).is_file()):
            if root is not None:
                files, unreadable = _folder_files(root, path, root)
            else:
                own = [p for p in sorted(path.iterdir()) if p.suffix in DEFINITION_SUFFIXES]
                forms = _forms_above(path.parent)
                files, unreadable = _read_named([*own, *(sorted(forms.glob("*.json")) if forms else [])])
            problems += unreadable
            model_id, problem = model_id_of(files, str(path), path.resolve().name)
            if problem is not None:
                problems.append(problem)
                continue
            sets.append(CheckedSet(model_id, files))
            continue
        if path.is_dir():
            files, unreadable = _read_named(
                p for p in sorted(path.iterdir()) if p.suffix in DEFINITION_SUFFIXES
            )
        elif path.suffix in DEFINITION_SUFFIXES and path.is_file():
            found = [path]
            if path.suffix == ".bpmn":
                found += _called_beside(path)
                found += sorted(path.parent.glob("*.dmn"))
                found += sorted(p for p in path.parent.glob("*.json"))
                forms = _forms_above(path.parent)
                if forms is not None:
                    found += sorted(forms.glob("*.json"))
            files, unreadable = _read_named(found)
        else:
            problems.append(
                Problem(
                    str(path), None, None, "no such .bpmn, .dmn or .json file or directory — check the path"
                )
            )
            continue
        problems += [p for p in unreadable if not any(q.file == p.file for q in problems)]
        for name, text in files.items():
            loose.setdefault(name, text)
    if loose:
        sets.append(CheckedSet(None, loose))
    return sets, problems


def _read_named(paths: Iterable[Path]) -> tuple[dict[str, str], list[Problem]]:
    files: dict[str, str] = {}
    problems: list[Problem] = []
    for path in paths:
        if str(path) in files:
            continue
        text, problem = read_text(path, str(path))
        if problem is not None:
            problems.append(problem)
        elif text is not None:
            files[str(path)] = text
    return files, problems


def _root_above(folder: Path) -> Path | None:
    """The root a model folder sits in (``root/processes/<model>``), if it sits in one."""
    if folder.parent.name == "processes":
        return folder.parent.parent
    if folder.name == "processes":
        return folder.parent
    return None


def _forms_above(folder: Path) -> Path | None:
    """The nearest shared ``forms/`` folder beside ``folder`` or beside one of its two parents."""
    for candidate in (folder, folder.parent, folder.parent.parent):
        if (candidate / "forms").is_dir():
            return candidate / "forms"
    return None


def _called_beside(path: Path) -> list[Path]:
    """The BPMN files beside ``path`` that define the processes its call activities call, and those they call
    in turn: a file checked alone is checked with them, as the folder deploys it."""
    defined: dict[str, Path] = {}
    for sibling in sorted(path.parent.glob("*.bpmn")):
        for process_id in _xml_values(sibling, "process", "id"):
            defined.setdefault(process_id, sibling)
    found: list[Path] = []
    pending = [path]
    while pending:
        for called in _xml_values(pending.pop(), "callActivity", "calledElement"):
            target = defined.get(called)
            if target is not None and target != path and target not in found:
                found.append(target)
                pending.append(target)
    return found


def _xml_values(path: Path, tag: str, attribute: str) -> list[str]:
    """The ``attribute`` of every ``bpmn:<tag>`` in the BPMN file ``path`` (none when it does not parse)."""
    try:
        root = etree.fromstring(path.read_bytes(), _XML_PARSER)
    except etree.XMLSyntaxError:
        return []
    return [value for element in root.iter(f"{{{BPMN_NS}}}{tag}") if (value := element.get(attribute))]


def validate_paths(paths: Iterable[Path]) -> list[Problem]:
    """Check the files and directories named on the command line (``gridloop validate PATH...``), each set of
    :func:`sets_at` on its own; every problem, in line order within each file."""
    sets, problems = sets_at(paths)
    for found in sets:
        problems += validate_files(found.files)
    return in_line_order(problems)


def label_warnings(paths: Iterable[Path]) -> list[Problem]:
    """The names in the files at ``paths`` (as :func:`validate_paths` reads them) that lack a label in a shipped
    interface language (:func:`engine.bpmn.labels.missing_labels`): warnings, since a page shows the Chinese
    name instead, but each is a name that staff reading English would not understand; and the UI schemas
    named, which gridloop ignores (:func:`~engine.bpmn.definitions.ui_schema_warnings`)."""
    sets, _problems = sets_at(paths)
    found = [Problem(*missing) for s in sets for missing in missing_labels(s.files)]
    found += [warning for s in sets for warning in ui_schema_warnings(s.files)]
    return in_line_order(list(dict.fromkeys(found)))


def load_bundle(root: Path, model: str | None = None, process_id: str | None = None) -> ProcessBundle:
    """Build the bundle for ``process_id`` (None: the model's own process) from the files of the model
    ``model`` under ``root`` (None: its only model)."""
    return build_bundle(collect_files(root, model), process_id or model)


def uploaded_model(
    uploads: dict[str, bytes], base: Callable[[str], dict[str, str] | None], model_id: str | None = None
) -> dict[str, str]:
    """The file set of a model uploaded file by file (the process page's deploy, the workbench's): each file goes
    into ``processes/<model>/`` by its own name, replacing the file of that name in ``base(model_id)`` (the
    model's files as last deployed, None for a new model), whose other files are kept — so that changing the
    diagram alone is uploading the diagram alone. DefinitionError when a file is not UTF-8, not a definition
    file, or the model cannot be named."""
    texts: dict[str, str] = {}
    problems: list[Problem] = []
    for name, data in sorted(uploads.items()):
        plain = posixpath.basename(name.replace("\\", "/"))
        if not plain.endswith(DEFINITION_SUFFIXES):
            problems.append(
                Problem(
                    plain,
                    None,
                    None,
                    "not a .bpmn, .dmn, .json or .form file — upload only the model's files",
                )
            )
            continue
        try:
            texts[plain] = data.decode("utf-8")
        except UnicodeDecodeError as err:
            line = data[: err.start].count(b"\n") + 1
            problems.append(
                Problem(
                    plain,
                    line,
                    None,
                    f"the file is not UTF-8 (byte 0x{data[err.start]:02x}) — save it as UTF-8",
                )
            )
    if problems:
        raise DefinitionError(problems)
    if model_id is None:
        model_id, problem = model_id_of(texts, "upload", "")
        if problem is not None:
            raise DefinitionError([problem])
    kept = base(model_id)
    files = {
        path: text for path, text in sorted((kept or {}).items()) if posixpath.basename(path) not in texts
    }
    folder = next(
        (posixpath.dirname(path) for path in (kept or {}) if path.startswith("processes/")),
        f"processes/{model_id}",
    )
    files.update({f"{folder}/{name}": text for name, text in texts.items()})
    return files
