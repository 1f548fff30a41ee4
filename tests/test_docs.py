"""The repository's references resolve inside the repository: every derivation tag the code
cites is a section of docs/derivations.md, every test the index names exists, every
repository path and document the docs and docstrings name exists, and nothing names a
machine path."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DERIVATIONS = ROOT / "docs" / "derivations.md"
SOURCES = sorted(p for d in ("flowsim", "paper_figures", "studies") for p in (ROOT / d).rglob("*.py"))
DOCS = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"] + sorted((ROOT / "studies" / "results").glob("*.md"))
TAG = r"[A-Z]{1,2}\d"


def section_tags():
    return set(re.findall(rf"^## ({TAG})\b", DERIVATIONS.read_text(), flags=re.M))


def cited_tags(text):
    """Tags named after 'derivations.md' in one citation, e.g. 'derivations.md, R1-R4, F1'."""
    tags = set()
    for cite in re.findall(r"derivations\.md[,:;]?\s*((?:§?\s*[A-Z]{1,2}\d+(?:\s*[-–]\s*[A-Z]{1,2}\d+)?[,;]?\s*(?:and\s+)?)+)", text):
        for a, b in re.findall(rf"({TAG}+)(?:\s*[-–]\s*({TAG}+))?", cite):
            if b:
                prefix, lo, hi = re.match(r"([A-Z]+)(\d+)", a).group(1), int(a.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")), int(b.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
                tags.update(f"{prefix}{i}" for i in range(lo, hi + 1))
            else:
                tags.add(a)
    return tags


def test_every_cited_derivation_tag_is_a_section():
    have = section_tags()
    missing = {}
    for path in SOURCES + DOCS:
        for tag in cited_tags(path.read_text()) - have:
            missing.setdefault(tag, []).append(str(path.relative_to(ROOT)))
    assert not missing, missing


def test_index_rows_name_existing_sections_and_tests():
    text = DERIVATIONS.read_text()
    have = section_tags()
    rows = re.findall(rf"^\| ({TAG}) \|.*\| (tests/\S+?)::(\w+) \|$", text, flags=re.M)
    assert len(rows) >= 20
    for tag, path, name in rows:
        assert tag in have, tag
        file = ROOT / path
        assert file.exists(), (tag, path)
        names = {n.name for n in ast.walk(ast.parse(file.read_text())) if isinstance(n, ast.FunctionDef)}
        assert name in names, (tag, path, name)


def test_every_named_test_exists():
    """Each `tests/FILE::NAME` in the docs and docstrings names a test function there."""
    missing = set()
    for path in SOURCES + DOCS:
        for ref, name in re.findall(r"(tests/[\w/]+\.py)::(\w+)", path.read_text()):
            file = ROOT / ref
            names = set() if not file.exists() else {
                n.name for n in ast.walk(ast.parse(file.read_text())) if isinstance(n, ast.FunctionDef)}
            if name not in names:
                missing.add((str(path.relative_to(ROOT)), ref, name))
    assert not missing, sorted(missing)


def test_named_repository_paths_exist():
    pattern = re.compile(r"(?<![\w/.])((?:docs|tests|studies|paper_figures|flowsim)/[\w/.-]*\w\.(?:py|md|toml))")
    missing = set()
    for path in SOURCES + DOCS:
        for ref in pattern.findall(path.read_text()):
            if not (ROOT / ref).exists():
                missing.add((str(path.relative_to(ROOT)), ref))
    assert not missing, sorted(missing)


def test_named_documents_exist_in_the_repository():
    """Every Markdown document the docs and docstrings name is a file of the repository
    (from the root, from docs/, beside the file that names it or in its results/ folder):
    nothing cites a document a reader with only the repository cannot open."""
    pattern = re.compile(r"(?<![\w./-])([\w./-]*\w\.md)\b")
    missing = set()
    for path in SOURCES + DOCS + [Path(__file__)]:
        for ref in pattern.findall(path.read_text()):
            if not any((base / ref).exists() for base in (ROOT, ROOT / "docs", path.parent, path.parent / "results")):
                missing.add((str(path.relative_to(ROOT)), ref))
    assert not missing, sorted(missing)


@pytest.mark.parametrize("word", ["/tmp/", "/work/", "/root/", "/home/"])
def test_no_machine_paths(word):
    hits = [str(p.relative_to(ROOT)) for p in SOURCES + DOCS if word in p.read_text()]
    assert not hits, hits
