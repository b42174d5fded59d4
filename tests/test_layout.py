"""The README's layout table and the tree agree: every folder that holds code or is at the top
level has exactly one line, and every line names a folder that exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Folders that are data inside a documented folder, not places a change is made.
DATA = ("tests/fixtures", "tests/rules_fixtures", "config/examples", "config/schema",
        "grafana/", "deploy/", "bench/results")


def _documented() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([^`]+)/` \|", section, flags=re.MULTILINE)


def _tree() -> set[str]:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    folders = {f.split("/", 1)[0] for f in files if "/" in f}  # every top-level folder
    for f in files:  # and every folder holding Python code
        parent = str(Path(f).parent)
        if f.endswith(".py") and parent != "." and not parent.startswith(DATA):
            folders.add(parent)
    return folders


def test_layout_table_matches_the_tree() -> None:
    documented = _documented()
    assert len(documented) == len(set(documented)), "a folder has two lines"
    assert sorted(set(documented)) == sorted(_tree())
