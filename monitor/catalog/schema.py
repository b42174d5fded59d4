"""JSON Schema of a catalog file, generated from the models so the two cannot drift.

Editors use it for completion and early red squiggles; the loader stays the authority (it also
checks references, world data and the rules that span files). Regenerate the committed copy:

    python -m monitor.catalog.schema [config/schema/catalog.schema.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import Field

from monitor.catalog.model import KINDS, Catalog
from monitor.catalog.sections import EXTENSION_PREFIX
from probes import DURATION_PATTERN, PERCENT_PATTERN, format_duration, format_percent

DEFAULT_OUTPUT = Path("config/schema/catalog.schema.json")


class CatalogFile(Catalog):
    """One catalog file: any part of the catalog, plus the files it includes."""

    include: tuple[str, ...] = Field(
        (), description="glob patterns of further catalog files, relative to this file"
    )


def catalog_json_schema() -> dict[str, Any]:
    schema = CatalogFile.model_json_schema()
    defs = schema["$defs"]
    # Pydantic cannot express "exactly one kind key"; the loader enforces it, the schema hints it.
    defs["Probe"]["oneOf"] = [{"required": [kind]} for kind in KINDS]
    # Top-level x-* keys hold YAML anchors and are ignored by the loader.
    schema["patternProperties"] = {f"^{EXTENSION_PREFIX}": {}}
    _spell_defaults(schema)
    _admit_variables(schema)
    schema["title"] = "Dozor catalog file"
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def _spell_defaults(node: Any) -> None:
    """Defaults as an author writes them ('60s', '99.5%'), not as held (60.0, 0.995)."""
    if isinstance(node, dict):
        default = node.get("default")
        if isinstance(default, float | int) and not isinstance(default, bool):
            if node.get("pattern") == DURATION_PATTERN:
                node["default"] = format_duration(default)
            elif node.get("pattern") == PERCENT_PATTERN:
                node["default"] = format_percent(default)
        for value in node.values():
            _spell_defaults(value)
    elif isinstance(node, list):
        for value in node:
            _spell_defaults(value)


# The schema checks the YAML as written, before ${ENV} is expanded: any patterned string may
# instead hold a reference (`${SMTP_ADDRESS}`, `${HOST}:25`); the loader checks the result.
_VARIABLE = r"\$\{[^}]+\}"


def _admit_variables(node: Any) -> None:
    if isinstance(node, dict):
        pattern = node.get("pattern")
        if isinstance(pattern, str):
            node["pattern"] = f"(?:{pattern})|{_VARIABLE}"
        for value in node.values():
            _admit_variables(value)
    elif isinstance(node, list):
        for value in node:
            _admit_variables(value)


def render() -> str:
    return json.dumps(catalog_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    output = Path(argv[0]) if argv else DEFAULT_OUTPUT
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render(), encoding="utf-8")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
