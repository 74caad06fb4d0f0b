"""Names staff read in other languages than Chinese: a per-language label beside each Chinese name, in the
definition file that holds the name.

Chinese is the source language: the BPMN's ``name`` attributes, the forms' ``title`` / ``description`` and
the routing table's texts are what the designers write and what the loop runs on. Each other interface language
(:data:`TRANSLATED_LANGUAGES`, today English) gets its label in the same file, right beside the name it
translates, in a form each editor keeps:

- **BPMN** (every element whose name the diagram shows — tasks, events, gateways, sequence flows, sub-processes,
  call activities, lanes, participants — and the process itself; not the names that are identifiers, such as a
  signal's or a data item's, :data:`UNLABELLED`): a spiff property ``name.<language>`` among the element's
  ``spiffworkflow:properties`` (SpiffArena's properties panel edits it; bpmn.io and Camunda Modeler keep the
  extension element as it is), in an ``extensionElements`` of its own for a sequence flow or a lane too::

      <spiffworkflow:property name="name.en" value="Dispatch" />

  The diagram is drawn in the reader's language from :func:`localize_bpmn`: the same file with each labelled
  name replaced by its label.

- **Forms**: a top-level ``x-gridloop-i18n`` object (JSON Schema ignores unknown keywords), by language, with
  the form's ``title`` and ``description`` and, by field, its ``title``, ``description``, ``choices`` (by
  ``const``) and, for an object field, its nested ``properties``::

      "x-gridloop-i18n": {"en": {"title": "Dispatch", "properties": {
          "department": {"title": "Department", "description": "…"},
          "dispatch_action": {"title": "Action", "choices": {"assign": "Assign to a department"}}}}}

- **DMN** (the routing table's ``class_name`` and ``category_name`` cells): a line ``<language>: <label>`` in
  the output entry's ``description`` (dmn-js shows and edits it as the cell's description; SpiffWorkflow
  ignores it)::

      <outputEntry id="…_category_name"><description>en: Exposed rubbish</description><text>"暴露垃圾"</text>

A label missing in a shipped language is a warning of ``gridloop validate`` (:func:`missing_labels`), not a
refusal: a district may deploy a Chinese-only process, and the page then shows the Chinese name;
``tests/test_english_names.py`` holds the shipped definitions to a label for every name. Labels are part of the
files, so they are in the content hash: a corrected translation is a new version, like any other edit.
"""

from __future__ import annotations

import copy
import json
import posixpath
import re
from collections.abc import Iterator, Mapping
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree
from lxml.etree import _Element as Element

SOURCE_LANGUAGE = "zh"
TRANSLATED_LANGUAGES: tuple[str, ...] = ("en",)
FORM_KEY = "x-gridloop-i18n"
LABELLED_OUTPUTS = ("class_name", "category_name")

_BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_NS = {"bpmn": _BPMN_NS, "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core"}
_PROPERTY = "bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property"
_NAME_ATTRIBUTE = re.compile(r"""(\sname\s*=\s*)(?:"[^"]*"|'[^']*')""")
_ID_TAG = re.compile(r"""<[\w.:-]+[^<>]*?\sid\s*=\s*(?:"([^"]*)"|'([^']*)')[^<>]*>""")

Labels = dict[str, str]  # language → label


def element_labels(element: Element) -> Labels:
    """The ``name.<language>`` spiff properties of a BPMN element, by language."""
    return {
        prop.get("name", "")[len("name.") :]: prop.get("value") or ""
        for prop in element.findall(_PROPERTY, _NS)
        if prop.get("name", "").startswith("name.") and (prop.get("value") or "").strip()
    }


# BPMN elements whose ``name`` is an identifier the engine or the data use, not a text staff read (the diagram
# does not show it; a signal is even matched by its name): they need no label.
UNLABELLED = frozenset(
    {
        "definitions",
        "collaboration",
        "laneSet",
        "signal",
        "message",
        "error",
        "escalation",
        "property",
        "dataInput",
        "dataOutput",
        "inputDataItem",
        "outputDataItem",
        "dataObject",
        "dataStore",
        "correlationKey",
        "correlationProperty",
        "interface",
        "operation",
        "resource",
        "resourceRole",
    }
)


def labelled_elements(root: Element) -> Iterator[Element]:
    """The BPMN elements whose names staff read and which therefore need a label per language: every element
    of the BPMN namespace with a non-empty ``name`` (the process, its flow nodes and sequence flows, lanes,
    participants), but for the identifiers of :data:`UNLABELLED`."""
    for element in root.iter(f"{{{_BPMN_NS}}}*"):
        if (element.get("name") or "").strip() and etree.QName(element).localname not in UNLABELLED:
            yield element


def localize_bpmn(text: str, language: str) -> str:
    """The BPMN document ``text`` with the ``name`` of each labelled element replaced by its label in
    ``language``: what bpmn-js draws for a reader of that language. The source language, a name without a
    label in ``language`` and a document that does not parse are left as they are; everything else of the file
    is kept byte for byte (only the attribute values change), so ids, layout and the executable parts are the
    deployed ones. For drawing only: a lane's name says its role, so the loop runs on the file as deployed."""
    if language == SOURCE_LANGUAGE:
        return text
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    try:
        root = etree.fromstring(text.encode("utf-8"), parser)
    except (etree.XMLSyntaxError, ValueError):
        return text
    labels = {
        element.get("id", ""): label
        for element in labelled_elements(root)
        if element.get("id") and (label := element_labels(element).get(language))
    }
    if not labels:
        return text
    replaced: set[str] = set()

    def rename(tag: re.Match[str]) -> str:
        element_id = tag.group(1) if tag.group(1) is not None else tag.group(2)
        if element_id not in labels or element_id in replaced:
            return tag.group(0)
        replaced.add(element_id)
        value = escape(labels[element_id], {'"': "&quot;", "\n": "&#10;"})
        return _NAME_ATTRIBUTE.sub(lambda name: f'{name.group(1)}"{value}"', tag.group(0), count=1)

    localized = _ID_TAG.sub(rename, text)
    if replaced == set(labels):
        return localized
    for element in labelled_elements(root):  # a start tag the pattern missed: serialize the tree instead
        if element.get("id") in labels:
            element.set("name", labels[element.get("id", "")])
    body = etree.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}' if text.lstrip().startswith("<?xml") else body


def bpmn_labels(trees: Mapping[str, Element]) -> dict[str, Labels]:
    """Element id → labels by language, over every BPMN document of a set."""
    return {
        element.get("id", ""): element_labels(element)
        for name, root in trees.items()
        if name.endswith(".bpmn")
        for element in labelled_elements(root)
    }


def description_labels(text: str | None) -> Labels:
    """The ``<language>: <label>`` lines of a DMN description, by language (other lines are notes)."""
    found: Labels = {}
    for line in (text or "").splitlines():
        language, colon, label = line.partition(":")
        if colon and language.strip() in TRANSLATED_LANGUAGES and label.strip():
            found[language.strip()] = label.strip()
    return found


def dmn_cell_labels(root: Element, output: str) -> dict[str, Labels]:
    """Rule id → labels of the rule's cell of output column ``output`` (``category_name``), by language."""
    namespace = etree.QName(root).namespace
    ns = {"dmn": namespace}
    columns = [o.get("name") for o in root.iterfind(".//dmn:decisionTable/dmn:output", ns)]
    if output not in columns:
        return {}
    index = columns.index(output)
    found: dict[str, Labels] = {}
    for rule in root.iterfind(".//dmn:decisionTable/dmn:rule", ns):
        entries = rule.findall("dmn:outputEntry", ns)
        if index < len(entries):
            found[rule.get("id", "")] = description_labels(
                entries[index].findtext("dmn:description", None, ns)
            )
    return found


def form_labels(schema: Mapping[str, Any], language: str) -> dict[str, Any]:
    """A form's labels in ``language`` (its ``x-gridloop-i18n`` entry; empty when it has none)."""
    found = (schema.get(FORM_KEY) or {}).get(language)
    return found if isinstance(found, dict) else {}


def localize_form(schema: Mapping[str, Any], language: str) -> dict[str, Any]:
    """A copy of a form's schema with its title, descriptions and choice titles in ``language`` where the form
    has them (the Chinese where it has not); the source language gives the schema as it is."""
    localized = copy.deepcopy(dict(schema))
    if language != SOURCE_LANGUAGE:
        _apply(localized, form_labels(schema, language))
    return localized


def _apply(node: dict[str, Any], labels: Mapping[str, Any]) -> None:
    for key in ("title", "description"):
        if isinstance(labels.get(key), str):
            node[key] = labels[key]
    choices = labels.get("choices") or {}
    items: dict[str, Any] = node["items"] if isinstance(node.get("items"), dict) else {}
    for holder in (node, items):
        for choice in holder.get("oneOf") or []:
            if isinstance(choice, dict) and "const" in choice and str(choice["const"]) in choices:
                choice["title"] = choices[str(choice["const"])]
    for name, inner in (labels.get("properties") or {}).items():
        prop = (node.get("properties") or {}).get(name)
        if isinstance(prop, dict) and isinstance(inner, dict):
            _apply(prop, inner)


def _form_gaps(node: Mapping[str, Any], labels: Mapping[str, Any], path: str) -> Iterator[str]:
    """What of a form (node) has no label in ``labels``: ``title``, ``department.description``, ``choice x``."""
    for key in ("title", "description"):
        if node.get(key) and not labels.get(key):
            yield f"{path}{key}"
    choices = labels.get("choices") or {}
    items: Mapping[str, Any] = node["items"] if isinstance(node.get("items"), dict) else {}
    for holder in (node, items):
        for choice in holder.get("oneOf") or []:
            if isinstance(choice, dict) and choice.get("title") and str(choice.get("const")) not in choices:
                yield f"{path}choices.{choice.get('const')}"
    inner = labels.get("properties") or {}
    for name, prop in (node.get("properties") or {}).items():
        if isinstance(prop, dict):
            yield from _form_gaps(prop, inner.get(name) or {}, f"{path}properties.{name}.")


def missing_labels(files: Mapping[str, str]) -> list[tuple[str, int | None, str | None, str]]:
    """Every name of a definition set that lacks a label in a shipped language, as (file, line, element id,
    message): named BPMN elements (:func:`labelled_elements`) without ``name.en``, form texts and choices
    without their ``x-gridloop-i18n`` entry, routing-table cells without an ``en:`` description line. Files that
    do not parse are left to the definitions' own checks."""
    found: list[tuple[str, int | None, str | None, str]] = []
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    for name in sorted(files):
        text = files[name]
        for language in TRANSLATED_LANGUAGES:
            if name.endswith(".bpmn"):
                try:
                    root = etree.fromstring(text.encode("utf-8"), parser)
                except etree.XMLSyntaxError:
                    continue
                for element in labelled_elements(root):
                    if language not in element_labels(element):
                        found.append(
                            (
                                name,
                                element.sourceline,
                                element.get("id"),
                                f"'{element.get('name') or element.get('id')}' has no {language} label — add "
                                f'the property <spiffworkflow:property name="name.{language}" value="…" />',
                            )
                        )
            elif name.endswith(".dmn"):
                try:
                    root = etree.fromstring(text.encode("utf-8"), parser)
                except etree.XMLSyntaxError:
                    continue
                for output in LABELLED_OUTPUTS:
                    for rule_id, labels in dmn_cell_labels(root, output).items():
                        if language not in labels:
                            line = root.xpath("//*[@id=$id]", id=rule_id)
                            found.append(
                                (
                                    name,
                                    line[0].sourceline if line else None,
                                    rule_id,
                                    f"the {output} cell has no {language} label — add the line "
                                    f"'{language}: …' to the cell's description",
                                )
                            )
            elif name.endswith(".json"):
                try:
                    schema = json.loads(text)
                except ValueError:
                    continue
                if not isinstance(schema, dict):
                    continue
                gaps = list(_form_gaps(schema, form_labels(schema, language), ""))
                if gaps:
                    found.append(
                        (
                            name,
                            1,
                            posixpath.basename(name),
                            f"no {language} label for {', '.join(gaps)} — add them under "
                            f'"{FORM_KEY}": {{"{language}": {{…}}}}',
                        )
                    )
    return found
