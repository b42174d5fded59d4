"""Find every catalog file: the root file(s), then ``include`` globs, depth first.

Each file is read once. A file's own entries come before those of the files it includes, and
included files come in sorted order, so the merged order is predictable. A file reached again
through another glob is merged only once; a file that includes itself, directly or not, is a cycle.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from monitor.catalog.errors import FILE_FIELD, WHOLE_FILE_LINE, Issue
from monitor.catalog.interpolation import interpolate
from monitor.catalog.source import Document
from monitor.catalog.yaml_source import read_yaml

ROOT_SUFFIXES = (".yaml", ".yml")


@dataclass
class Collected:
    documents: list[Document]  # every document whose top level is a mapping, in merge order
    issues: list[Issue]
    # Every file found was read as a mapping, so a key missing from all of them is missing
    # indeed (rather than, perhaps, in a file that could not be read).
    complete: bool


def collect_documents(path: Path, env: Mapping[str, str]) -> Collected:
    """Every catalog document, in merge order, and every issue found."""
    walk = _Walk(env)
    if path.is_dir():
        roots = sorted(p for p in path.iterdir() if p.suffix in ROOT_SUFFIXES and p.is_file())
        if not roots:
            walk.fail(Issue(str(path), WHOLE_FILE_LINE, FILE_FIELD,
                            "no *.yaml or *.yml files in directory"))
    elif path.exists():
        roots = [path]
    else:
        walk.fail(Issue(str(path), WHOLE_FILE_LINE, FILE_FIELD, "no such file or directory"))
        roots = []
    for root in roots:
        if root.resolve() not in walk.loaded:
            walk.visit(root, ())
    return Collected(walk.documents, walk.issues, walk.complete)


@dataclass
class _Walk:
    env: Mapping[str, str]
    documents: list[Document] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    loaded: set[Path] = field(default_factory=set)
    complete: bool = True

    def fail(self, issue: Issue) -> None:
        self.issues.append(issue)
        self.complete = False

    def visit(self, file: Path, chain: tuple[Path, ...], included_by: str = "") -> None:
        resolved = file.resolve()
        self.loaded.add(resolved)
        chain = (*chain, resolved)
        doc, issues = read_yaml(file, os.path.normpath(file))
        self.issues += issues
        if doc is None:
            self.complete = False
            return
        if not isinstance(doc.data, dict):
            # Checked before interpolation, so nothing of a file that is no catalog (an
            # /etc/passwd or a secret file included by mistake) is read any further; and never
            # quoted: the message names the file and what it holds, not its content.
            message = (
                f"the top level must be a mapping (standard:, services:, ...), "
                f"not {_kind(doc.data)}"
            )
            if included_by:
                message = (
                    f"not a catalog: {message}; it is included by {included_by}, "
                    "include only catalog YAML files"
                )
            self.fail(Issue(doc.file, doc.line(()), FILE_FIELD, message))
            return
        doc, issues = interpolate(doc, self.env)
        self.issues += issues
        self.documents.append(doc)
        patterns = doc.data.get("include")
        if patterns is None:
            return
        if not isinstance(patterns, list):
            self.fail(
                doc.issue(
                    ("include",),
                    'expected a list of glob patterns, e.g. include: ["services.d/*.yaml"]',
                )
            )
            return
        for index, pattern in enumerate(patterns):
            where = ("include", index)
            if not isinstance(pattern, str) or not pattern:
                self.fail(doc.issue(where, "expected a glob pattern string"))
                continue
            matches = self._matches(file, pattern)
            if not matches:
                self.fail(
                    doc.issue(
                        where,
                        f"include {pattern!r} matches no files "
                        f"(relative to {os.path.normpath(file.parent)}/)",
                    )
                )
            for match in matches:
                target = match.resolve()
                if target in chain:
                    cycle = " -> ".join(p.name for p in chain[chain.index(target) :])
                    self.issues.append(
                        doc.issue(
                            where,
                            f"include cycle: {cycle} -> {target.name}; "
                            "a file must not include itself, directly or through others",
                        )
                    )
                elif target not in self.loaded:
                    self.visit(match, chain, f"{doc.file}:{doc.line(where)}")

    @staticmethod
    def _matches(file: Path, pattern: str) -> list[Path]:
        # root_dir keeps glob characters in the including file's own directory name literal.
        found = glob.glob(pattern, root_dir=file.parent, recursive=True)
        return sorted(p for p in (file.parent / f for f in found) if p.is_file())


def _kind(value: object) -> str:
    """What a top level holds, in words: never the value itself."""
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    return "a single value"
