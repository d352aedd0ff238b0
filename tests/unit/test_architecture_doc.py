"""docs/architecture.md stays true to the code: every path it names exists, every `file::test` it
cites is a test of that file, every `path` `Name` it says enforces a rule defines that name, and
every "docs/architecture.md section N" cited anywhere in the project is a section it has."""

from __future__ import annotations

import re

from repo_root import ROOT

DOC = ROOT / "docs" / "architecture.md"
TEXT = DOC.read_text()
SOURCES = (".py", ".sol", ".md", ".proto", ".toml")
BRIEF = "design" + r"\.md"  # spelled apart so this file is not a hit of its own check
SKIP = {".venv", "node_modules", "build", ".git", ".hypothesis", "var"}

PATH = re.compile(r"`((?:[\w.-]+/)+[\w.-]*)`")
TEST = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")
ENFORCED = re.compile(r"`((?:[\w-]+/)+[\w-]+\.(?:py|sol))`((?: `[\w.]+`,?)+)")
CITATION = re.compile(r"docs/architecture\.md,?\s+sections?\s+(\d+(?:\.\d+)?)")


def sections() -> set[str]:
    return {m[1] for m in re.finditer(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", TEXT, re.M)}


def test_every_named_path_exists() -> None:
    missing = sorted({p for p in PATH.findall(TEXT) if not (ROOT / p).exists()})
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"
    assert len(PATH.findall(TEXT)) > 50  # the pattern does find the paths


def test_every_cited_test_is_defined_in_its_file() -> None:
    cited = TEST.findall(TEXT)
    assert len(cited) > 50
    bad = []
    for path, name in cited:
        f = ROOT / path
        if not f.is_file() or not re.search(rf"^(?:async def|def|class) {name}\b|^{name} = ", f.read_text(), re.M):
            bad.append(f"{path}::{name}")
    assert not bad, f"docs/architecture.md cites tests that do not exist: {bad}"


def test_every_enforcing_name_is_defined_where_the_page_says() -> None:
    pairs = [(path, name.strip(" `,")) for path, names in ENFORCED.findall(TEXT) for name in names.split("`")
             if name.strip(" `,")]
    assert len(pairs) > 20
    bad = []
    for path, name in pairs:
        last = name.rsplit(".", 1)[-1]
        src = (ROOT / path).read_text()
        if not re.search(rf"\b(?:def|class|function|event|struct|contract)\s+{last}\b|^{last}\s*[:=]", src, re.M):
            bad.append(f"{path} {name}")
    assert not bad, f"docs/architecture.md names code that is not where it says: {bad}"


def test_the_sections_are_numbered_in_order() -> None:
    top = [int(m[1]) for m in re.finditer(r"^## (\d+)\. ", TEXT, re.M)]
    assert top == list(range(1, len(top) + 1)) and len(top) >= 7
    flows = [m[1] for m in re.finditer(r"^### 4\.(\d+) ", TEXT, re.M)]
    assert flows == [str(i) for i in range(1, len(flows) + 1)]
    names = {m[1].lower() for m in re.finditer(r"^### 4\.\d+ (\w+)", TEXT, re.M)}
    assert {"submit", "seal", "serve", "batch", "derive", "settle"} <= names


def test_every_citation_in_the_project_is_a_section_of_the_page() -> None:
    known = sections()
    cited: dict[str, set[str]] = {}
    stale: list[str] = []
    for f in ROOT.rglob("*"):
        if f.suffix not in SOURCES or SKIP & set(f.relative_to(ROOT).parts) or not f.is_file():
            continue
        text = f.read_text(errors="replace")
        rel = str(f.relative_to(ROOT))
        for m in CITATION.finditer(text):
            cited.setdefault(m[1], set()).add(rel)
        if re.search(rf"\b{BRIEF}\b", text):
            stale.append(rel)
    assert not stale, f"these cite the brief, which is not in the repository: {stale}"
    unknown = {s: sorted(files) for s, files in cited.items() if s not in known}
    assert not unknown, f"citations of docs/architecture.md sections it does not have: {unknown}"
    assert cited, "no file cites docs/architecture.md"
