"""Read one YAML file safely into a ``Document`` with the line of every key and list item.

Only the safe subset of YAML is accepted (``yaml.SafeLoader`` composes the node tree; no Python
tags). We build the data from the node tree ourselves to record lines, to reject duplicate keys
(PyYAML silently keeps the last one) and to refuse alias bombs before expanding them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import (
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from monitor.catalog.errors import FILE_FIELD, WHOLE_FILE_LINE, Issue, clip
from monitor.catalog.source import DataPath, Document, format_field

MAX_BYTES = 10 * 1024 * 1024
MAX_NODES = 1_000_000  # after expanding aliases; a real catalog is far below this
MAX_DEPTH = 64

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"


# libyaml's composer is ~10x faster (a 10,000-service catalog) and yields the same nodes
# and marks; the pure-Python one is the fallback where PyYAML was built without it.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Refused(Exception):
    """The document is shaped so that building it would be unsafe (bomb, recursion, depth)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def read_yaml(path: Path, display: str) -> tuple[Document | None, list[Issue]]:
    """The document, or None when the file cannot be used at all; plus every issue found."""
    text_or_issue = _read_text(path, display)
    if isinstance(text_or_issue, Issue):
        return None, [text_or_issue]
    built = _from_events(text_or_issue)
    if built is not None:
        return _document(display, *built), []
    try:
        root = yaml.compose(text_or_issue, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_issue(display, exc)]
    except yaml.reader.ReaderError as exc:  # a control character such as NUL in the text
        line = text_or_issue[: exc.position].count("\n") + 1
        message = f"character {exc.character:#06x} is not allowed in YAML ({exc.reason}); remove it"
        return None, [Issue(display, line, FILE_FIELD, message)]
    except yaml.YAMLError as exc:
        return None, [Issue(display, WHOLE_FILE_LINE, FILE_FIELD, f"YAML error: {exc}")]
    except RecursionError:  # the pure-Python composer, which knows no line here
        message = f"nesting is too deep (limit {MAX_DEPTH} levels)"
        return None, [Issue(display, WHOLE_FILE_LINE, FILE_FIELD, message)]
    if root is None:  # an empty file is an empty catalog fragment
        return Document(display, {}, {(): 1}), []
    try:
        builder, data = _build(root)
    except _Refused as exc:
        return None, [Issue(display, exc.line, FILE_FIELD, exc.message)]
    except yaml.MarkedYAMLError as exc:  # e.g. an unknown tag on a scalar
        return None, [_syntax_issue(display, exc)]
    # A problem inside an anchored mapping is seen again wherever it is merged: report it once.
    seen = {(line, msg): p for p, line, msg in reversed(builder.problems)}
    issues = [Issue(display, line, format_field(data, p), msg) for (line, msg), p in seen.items()]
    return _document(display, builder, data), issues


def _document(display: str, builder: _Builder, data: Any) -> Document:
    return Document(display, data, builder.lines)


def _line(event: Any) -> int:
    return int(event.start_mark.line) + 1


def _from_events(text: str) -> tuple[_Builder, Any] | None:
    """The data of a plain document (one document; no anchors, aliases, merge keys, explicit
    tags on lists or mappings, complex or duplicate keys; within the node and depth limits)
    built straight from the parser's events, or None for any other document, which then goes
    the composed way, errors included.

    The composed node tree of a 10,000-service catalog is ~100 MB (a node, its attribute dict
    and two marks per value) next to ~40 MB of data and lines: never composing it is most of
    the memory a start takes, and the process keeps that peak as its resident size."""
    loader = _LOADER(text)
    try:
        loader.get_event()  # the stream's start
        if loader.check_event(StreamEndEvent):
            return None  # empty: the composed way says what that means
        loader.get_event()  # the document's start
        builder = _Builder()
        data = builder.from_event(loader, loader.get_event(), ())
        loader.get_event()  # the document's end
        if not loader.check_event(StreamEndEvent):
            return None  # a second document: the composer words that error
        return builder, data
    except (yaml.YAMLError, _Unsure, _Refused):
        return None
    finally:
        loader.dispose()


def _syntax_issue(display: str, exc: yaml.MarkedYAMLError) -> Issue:
    """Dozor's own message for the YAML errors a config author meets, so that what they read
    (and what the tests check) does not change with PyYAML's or libyaml's wording."""
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else WHOLE_FILE_LINE
    problem, context = exc.problem or "", exc.context or ""
    if "nesting depth" in problem:  # libyaml >= 0.2.5 refuses deep flow nesting itself
        return Issue(display, line, FILE_FIELD, f"nesting is too deep (limit {MAX_DEPTH} levels)")
    if "single document" in context:
        return Issue(display, line, FILE_FIELD, "expected a single document; remove the '---' line")
    if "constructor" in problem:  # an unknown or language-specific tag on a scalar
        return Issue(display, line, FILE_FIELD, f"unsupported YAML tag {_tag_of(problem)}; "
                     "write plain lists, mappings and values")
    message = f"YAML syntax error: {problem or context}"
    # The context ("while scanning a quoted scalar") usually points at where the mistake is.
    same_line = (
        mark is not None and exc.context_mark is not None and exc.context_mark.line == mark.line
    )
    if context and problem and exc.context_mark and not same_line:
        message += f" ({context} started at line {exc.context_mark.line + 1})"
    return Issue(display, line, FILE_FIELD, message)


def _tag_of(problem: str) -> str:
    # "could not determine a constructor for the tag '!custom'": the tag, bounded in length.
    start, end = problem.find("'"), problem.rfind("'")
    tag = problem[start + 1 : end] if 0 <= start < end else "?"
    return clip(tag)


def _read_text(path: Path, display: str) -> str | Issue:
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_BYTES + 1)  # never read an arbitrarily large file into memory
    except OSError as exc:
        message = f"cannot read the file: {exc.strerror or exc}"
        return Issue(display, WHOLE_FILE_LINE, FILE_FIELD, message)
    if len(raw) > MAX_BYTES:
        return Issue(
            display,
            WHOLE_FILE_LINE,
            FILE_FIELD,
            f"the file is larger than {MAX_BYTES // (1024 * 1024)} MiB; "
            "split it into several files with include",
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return Issue(display, line, FILE_FIELD, "the file is not valid UTF-8; save it as UTF-8")


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def _check_size(root: Node) -> None:
    """Count nodes as they would be after expanding aliases, sharing work across aliases, so a
    billion-laughs document is refused in time linear in its size rather than its expansion."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: Node, depth: int) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        line = node.start_mark.line + 1
        if key in open_nodes:
            raise _Refused(line, "an alias refers to a node that contains it (recursive alias)")
        if depth > MAX_DEPTH:
            raise _Refused(line, f"nesting is too deep (limit {MAX_DEPTH} levels)")
        open_nodes.add(key)
        total = 1
        for child in _children(node):
            total += size(child, depth + 1)
            if total > MAX_NODES:
                raise _Refused(
                    line,
                    f"aliases expand to more than {MAX_NODES} nodes; "
                    "refusing a document this large (alias bomb?)",
                )
        open_nodes.discard(key)
        sizes[key] = total
        return total

    size(root, 0)


class _Unsure(Exception):
    """The fast build met something only the full check can judge (an alias, a merge, deep
    nesting, many nodes, a refusal): redo it the careful way."""


def _build(root: Node) -> tuple[_Builder, Any]:
    """The data of a document, refused as ``_check_size`` would refuse it.

    A document without aliases is a tree of at most ``MAX_NODES`` nodes and ``MAX_DEPTH``
    levels, which the fast build checks as it goes; counting nodes first would be a second
    walk (0.9 s of 10,000 services' 4 s). Anything else gets the old order: the full check,
    then the build, so errors and their lines are the same either way."""
    builder = _Builder(watch=set())
    try:
        return builder, builder.build(root, ())
    except (_Unsure, _Refused, yaml.MarkedYAMLError):
        pass
    _check_size(root)
    builder = _Builder()
    return builder, builder.build(root, ())


@dataclass
class _Builder:
    lines: dict[DataPath, int] = field(default_factory=dict)
    problems: list[tuple[DataPath, int, str]] = field(default_factory=list)
    scalars: SafeConstructor = field(default_factory=SafeConstructor)
    # Each distinct text once: the same department, region or curator in every service of a
    # file is one string in the built catalog, not one per service.
    strings: dict[str, str] = field(default_factory=dict)
    # The fast build (``_build``): ids of the lists and mappings built so far, and the nodes.
    watch: set[int] | None = None
    nodes: int = 0

    def build(self, node: Node, path: DataPath) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if self.watch is not None:
            self._watched(self.watch, node, path)
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        if isinstance(node, SequenceNode):
            self._plain_tag(node, _SEQ_TAG)
            items = []
            for index, item in enumerate(node.value):
                self.lines[(*path, index)] = item.start_mark.line + 1
                items.append(self.build(item, (*path, index)))
            return items
        if isinstance(node, MappingNode):
            self._plain_tag(node, _MAP_TAG)
            return self._mapping(node, path)
        raise _Refused(node.start_mark.line + 1, f"unsupported YAML node {node.tag}")

    def from_event(self, loader: Any, event: Any, path: DataPath) -> Any:
        """``build`` for ``_from_events``: what the composer and ``build`` would make of the
        node ``event`` starts, or ``_Unsure`` where they might differ."""
        self.lines.setdefault(path, _line(event))
        self.nodes += 1
        if event.anchor is not None or len(path) > MAX_DEPTH or self.nodes > MAX_NODES:
            raise _Unsure  # an anchor, or an alias (its anchor attribute is the name)
        if isinstance(event, ScalarEvent):
            return self._event_scalar(loader, event)
        if getattr(event, "tag", None) not in (None, "!"):
            raise _Unsure  # an explicit tag on a list or mapping
        if isinstance(event, SequenceStartEvent):
            items: list[Any] = []
            while not loader.check_event(SequenceEndEvent):
                item = loader.get_event()
                self.lines[(*path, len(items))] = _line(item)
                items.append(self.from_event(loader, item, (*path, len(items))))
            loader.get_event()
            return items
        if isinstance(event, MappingStartEvent):
            result: dict[Any, Any] = {}
            while not loader.check_event(MappingEndEvent):
                key_event = loader.get_event()
                if not isinstance(key_event, ScalarEvent) or key_event.anchor is not None:
                    raise _Unsure
                self.nodes += 1
                key = self._event_scalar(loader, key_event, merge=False)
                if key in result:
                    raise _Unsure  # reported, with the first one's line, the composed way
                self.lines[(*path, key)] = _line(key_event)
                result[key] = self.from_event(loader, loader.get_event(), (*path, key))
            loader.get_event()
            return result
        raise _Unsure

    def _event_scalar(self, loader: Any, event: Any, merge: bool = True) -> Any:
        tag = event.tag
        if tag is None or tag == "!":  # as the composer resolves it
            tag = loader.resolve(ScalarNode, event.value, event.implicit)
        if tag == _STR_TAG:
            text: str = event.value
            return self.strings.setdefault(text, text)
        if tag == _MERGE_TAG and not merge:
            raise _Unsure
        return self.scalar(ScalarNode(tag, event.value, event.start_mark, event.end_mark,
                                      event.style))

    def _watched(self, watch: set[int], node: Node, path: DataPath) -> None:
        self.nodes += 1
        if len(path) > MAX_DEPTH or self.nodes > MAX_NODES:
            raise _Unsure
        if not isinstance(node, ScalarNode):
            if id(node) in watch:  # a list or mapping met twice: an alias
                raise _Unsure
            watch.add(id(node))

    def scalar(self, node: ScalarNode) -> Any:
        if node.tag == _STR_TAG:
            # What construct_object returns for text, without its per-node cache (which would
            # hold every scalar node until the file is built).
            text: str = node.value
            return self.strings.setdefault(text, text)
        try:
            return self.scalars.construct_object(node)
        except (ValueError, KeyError, AttributeError, IndexError) as exc:
            # PyYAML's constructors trust the resolver: an explicit tag on a value that does
            # not fit it (`!!int abc`, `!!bool maybe`), or an integer longer than Python
            # converts (4,300 digits), fails with a plain Python error.
            tag = node.tag.rsplit(":", 1)[-1]
            value = clip(node.value, 43)
            hint = " (more than 4,300 digits)" if "digits" in str(exc) else ""
            raise _Refused(
                node.start_mark.line + 1,
                f"{value!r} cannot be read as {tag}{hint}; quote it if it is text",
            ) from None

    def _plain_tag(self, node: Node, expected: str) -> None:
        if node.tag != expected:
            raise _Refused(
                node.start_mark.line + 1,
                f"unsupported YAML tag {node.tag}; write plain lists, mappings and values",
            )

    def _mapping(self, node: MappingNode, path: DataPath) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        merges: list[MappingNode] = []
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE_TAG:  # `<<: *anchor` shares keys between entries
                if self.watch is not None:
                    raise _Unsure
                merges.extend(self._merge_sources(value_node))
                continue
            if not isinstance(key_node, ScalarNode):
                if self.watch is not None:
                    raise _Unsure  # its nodes count and nest too: let _check_size see them
                problem = "a key must be a plain value, not a list or mapping"
                self.problems.append((path, line, problem))
                continue
            if self.watch is not None:
                self.nodes += 1  # the key: _check_size counts keys as nodes too
            key = self.scalar(key_node)
            if key in result:
                first = self.lines.get((*path, key))
                shown = clip(repr(key))
                self.problems.append(
                    ((*path, key), line, f"duplicate key {shown} (first at line {first}); keep one")
                )
                continue
            self.lines[(*path, key)] = line
            result[key] = self.build(value_node, (*path, key))
        if merges:
            self._merge_into(result, merges, path)
        return result

    def _merge_into(
        self, result: dict[Any, Any], sources: list[MappingNode], path: DataPath
    ) -> None:
        """Explicit keys win, then earlier merge sources (the YAML merge-key rule). Lines of a
        merged value point at the anchored mapping, where the author wrote it."""
        saved, scratch = self.lines, dict[DataPath, int]()
        self.lines = scratch
        try:
            merged: dict[Any, Any] = {}
            for source in sources:
                for key, value in self._mapping(source, path).items():
                    merged.setdefault(key, value)
        finally:
            self.lines = saved
        taken = {key for key in merged if key not in result}
        for key in taken:
            result[key] = merged[key]
        for sub, line in scratch.items():
            if len(sub) > len(path) and sub[len(path)] in taken:
                self.lines[sub] = line

    def _merge_sources(self, node: Node) -> list[MappingNode]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        if not all(isinstance(s, MappingNode) for s in sources):
            raise _Refused(node.start_mark.line + 1, "'<<' merges a mapping or a list of mappings")
        return list(sources)
