"""Comments and docs cite only what a reader of this repository can open.

A comment that says "see X.md" must name a file in the repository; notes kept outside it (a
team's wiki, another checkout) are invisible to users and to the next maintainer.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SEARCHED = ["plugins", "roles", "playbooks", "src", "tools", "bench", "molecule", "inventories", "docs"]
SUFFIXES = {".py", ".yml", ".yaml", ".j2", ".md", ".cfg", ".toml"}
MARKDOWN_NAME = re.compile(r"(?<![\w/.-])((?:\.\./)*[\w./-]*[\w-]\.md)\b")


def _files():
    for top in SEARCHED:
        for path in sorted((ROOT / top).rglob("*")):
            if path.is_file() and path.suffix in SUFFIXES and "egg-info" not in str(path):
                yield path
    yield ROOT / "README.md"


def _exists(name: str, where: Path) -> bool:
    candidates = [ROOT / name, where.parent / name, ROOT / "docs" / name]
    return any(candidate.resolve().is_file() for candidate in candidates)


def test_markdown_references_name_files_in_the_repository():
    missing = []
    for path in _files():
        text = path.read_text(errors="replace")
        for name in sorted(set(MARKDOWN_NAME.findall(text))):
            if not _exists(name, path):
                missing.append(f"{path.relative_to(ROOT)}: {name}")
    assert not missing, "cited files that are not in the repository:\n" + "\n".join(missing)


def test_the_pattern_finds_a_reference():
    assert MARKDOWN_NAME.findall("see ROLLOUT.md and ../shared/CI-HOST.md, docs/roles.md.") == [
        "ROLLOUT.md",
        "../shared/CI-HOST.md",
        "docs/roles.md",
    ]
