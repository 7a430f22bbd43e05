"""docs/regulation-map.md cannot drift: every rule code, function and test it names exists, and every
article rule code of domain/rules.py is in it."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

from domain.rules import Rule

ROOT = Path(__file__).parent.parent
MAP = ROOT / "docs" / "regulation-map.md"
_ARTICLE_CODE = re.compile(r"^art\d+\.")


def _rows() -> list[tuple[str, str, list[str], list[str]]]:
    """(article, rule code or '—', functions, tests) of every table row."""
    rows = []
    for line in MAP.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) != 4 or cells[0] in ("Article", "---"):
            continue
        names = [re.findall(r"`([^`]+)`", c) for c in cells[1:]]
        rows.append((cells[0], (names[0] or ["—"])[0], names[1], names[2]))
    return rows


def _resolve(dotted: str) -> object:
    """The object a dotted path names: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def test_the_map_has_rows_and_each_names_an_article_a_function_and_a_test():
    rows = _rows()
    assert len(rows) >= 10
    for article, _, functions, tests in rows:
        assert article.startswith("Art. "), article
        assert functions and tests, article


def test_every_rule_code_in_the_map_is_a_rule_of_domain_rules():
    codes = {r.value for r in Rule}
    assert [code for _, code, _, _ in _rows() if code != "—" and code not in codes] == []


def test_every_article_rule_code_is_in_the_map_under_its_article():
    mapped = {code: article for article, code, _, _ in _rows()}
    article_codes = [r.value for r in Rule if _ARTICLE_CODE.match(r.value)]
    assert [c for c in article_codes if c not in mapped] == []
    for code in article_codes:  # `art23.…` sits in a row of Art. 23
        assert mapped[code].startswith(f"Art. {int(code[3:code.index('.')])}"), (code, mapped[code])


def test_every_function_in_the_map_exists():
    missing = []
    for _, _, functions, _ in _rows():
        for dotted in functions:
            try:
                assert callable(_resolve(dotted))
            except (ImportError, AttributeError, AssertionError):
                missing.append(dotted)
    assert missing == []


def test_every_test_in_the_map_exists():
    missing = []
    for _, _, _, tests in _rows():
        for name in tests:
            path, _, test = name.partition("::")
            if not (ROOT / path).is_file() or test not in _test_names(ROOT / path):
                missing.append(name)
    assert missing == []
