"""Languages of the pages: zh-CN by default, English as a switch; gettext catalogues built with Babel.

Message ids are English; `web/locale/zh_CN/LC_MESSAGES/messages.po` translates them (compiled .mo
committed beside it; `tests/test_web_i18n.py` checks both are complete and in step). Dates and times
are shown in Asia/Shanghai.
"""

from __future__ import annotations

import gettext
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

from babel.support import Translations

from domain.clock import SHANGHAI

LOCALE_DIR = Path(__file__).parent / "locale"
LANG_COOKIE = "tph_lang"
DEFAULT = "zh-CN"
# The page language (BCP 47, for <html lang>) -> its catalogue (gettext locale name), None: the msgids.
LANGUAGES: dict[str, str | None] = {"zh-CN": "zh_CN", "en": None}


def N_(message: str) -> str:
    """Marks a message for extraction; translated where it is shown."""
    return message


@lru_cache
def translations(lang: str) -> gettext.NullTranslations:
    catalogue = LANGUAGES.get(lang)
    if catalogue is None:
        return gettext.NullTranslations()
    return Translations.load(str(LOCALE_DIR), [catalogue], domain="messages")


def language(cookie: str | None) -> str:
    return cookie if cookie in LANGUAGES else DEFAULT


def local_time(value: datetime | date | None, with_time: bool = True) -> str:
    """An instant in Asia/Shanghai (the scheme's time zone), e.g. 2026-05-06 17:30."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        if value.tzinfo is None:  # stored instants are aware; a naive one is taken as UTC
            from datetime import timezone

            value = value.replace(tzinfo=timezone.utc)
        local = value.astimezone(SHANGHAI)
        return local.strftime("%Y-%m-%d %H:%M") if with_time else local.strftime("%Y-%m-%d")
    return value.isoformat()
