"""The pages' text: nothing hard-coded in templates, every message translated into zh-CN, the compiled
catalogue in step with its source, dates in Asia/Shanghai."""

from __future__ import annotations

import gettext
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from babel.messages.pofile import read_po

from web import i18n

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "web" / "templates"
PO = ROOT / "web" / "locale" / "zh_CN" / "LC_MESSAGES" / "messages.po"


def test_templates_hold_no_user_facing_text_outside_gettext():
    for path in TEMPLATES.rglob("*.html"):
        source = path.read_text()
        stripped = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", " ", source, flags=re.S)
        stripped = re.sub(r"<[^>]*>", " ", stripped, flags=re.S)  # tags and their attributes
        # What is left between tags must be punctuation, entities or symbols, never words.
        words = re.findall(r"[A-Za-z\u4e00-\u9fff]{2,}", re.sub(r"&[a-z]+;", " ", stripped))
        # Units, and the language switch, which names each language in itself (never translated).
        words = [w for w in words if w not in {"KB", "tCO", "中文", "English"}]
        assert not words, f"{path.relative_to(ROOT)} has text outside _(): {words[:5]}"
    # Attributes a person reads (aria-label, placeholder, title) go through _() too.
    for path in TEMPLATES.rglob("*.html"):
        for value in re.findall(r'(?:aria-label|title)="([^"{]+)"', path.read_text()):
            raise AssertionError(f"{path.name}: attribute text '{value}' is hard-coded")


def test_every_message_is_translated_and_compiled(tmp_path):
    out = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-k", "N_",
                    "--no-location", "-o", str(out), "."], cwd=ROOT, check=True, capture_output=True)
    wanted = {m.id for m in read_po(out.open("rb")) if m.id}
    catalogue = read_po(PO.open("rb"))
    translated = {m.id for m in catalogue if m.id and m.string and all(m.string if isinstance(m.string, tuple)
                                                                        else [m.string])}
    assert not wanted - translated, f"untranslated: {sorted(map(str, wanted - translated))[:10]}"
    compiled = i18n.translations("zh-CN")
    for m in catalogue:
        if m.id and not isinstance(m.id, tuple):
            assert compiled.gettext(m.id) == m.string, f".mo out of step with .po at {m.id!r} (scripts/translations)"


def test_languages_and_times():
    assert i18n.language(None) == "zh-CN" and i18n.language("fr") == "zh-CN" and i18n.language("en") == "en"
    assert isinstance(i18n.translations("en"), gettext.NullTranslations)
    assert i18n.translations("zh-CN").gettext("Sign in") == "登录"
    assert i18n.local_time(datetime(2026, 5, 6, 16, 30, tzinfo=timezone.utc)) == "2026-05-07 00:30"


def test_remaining_working_days_of_a_publicity_count_whole_days_after_today():
    from domain.working_days import SHANGHAI, WorkingDayCalendar
    from web.pages.public import working_days_left

    cal = WorkingDayCalendar()  # weekends only
    opened = datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)  # a Monday
    ends = cal.period_end(opened, 7).end  # end of Wednesday next week
    assert working_days_left(cal, opened, ends) == 7
    assert working_days_left(cal, datetime(2026, 3, 7, 12, tzinfo=SHANGHAI), ends) == 3  # a Saturday
    assert working_days_left(cal, ends, ends) == 0
