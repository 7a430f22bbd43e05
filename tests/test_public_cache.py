"""The public-read cache (issue 15, api/public.py): conditional requests, Cache-Control, and an answer that
changes as soon as the data behind it changes (written through the API, read again)."""

from __future__ import annotations

from sqlalchemy import text

from api.public import CACHE_CONTROL, PublicCache
from domain.roles import Role
from store import ledger as ledger_store


EXPERTS = "/api/v1/experts"


async def _add_expert(client, bureau, make_actor, name: str) -> None:
    user = make_actor(Role.EXPERT)
    r = await client.post(EXPERTS, headers=bureau.headers,
                          json={"user_id": user.id, "name": name, "expertise": ["energy"]})
    assert r.status_code == 201, r.text


async def test_a_write_through_the_api_changes_the_cached_answer_and_its_etag(client, bureau, make_actor):
    await _add_expert(client, bureau, make_actor, "张一")
    first = await client.get(EXPERTS)
    assert first.status_code == 200
    assert first.headers["cache-control"] == CACHE_CONTROL
    assert first.headers["etag"].startswith('"') and "last-modified" in first.headers
    again = await client.get(EXPERTS)
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    assert client._transport.app.state.public_cache.hits >= 1  # the second answer came from the cache

    await _add_expert(client, bureau, make_actor, "李二")  # the write is answered ...
    after = await client.get(EXPERTS)  # ... so no reader gets the old answer
    assert [e["name"] for e in after.json()] == ["张一", "李二"]
    assert after.headers["etag"] != first.headers["etag"]


async def test_if_none_match_answers_304_until_the_data_changes(client, bureau, make_actor):
    await _add_expert(client, bureau, make_actor, "王三")
    first = await client.get(EXPERTS)
    etag = first.headers["etag"]
    r = await client.get(EXPERTS, headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.content == b""
    assert r.headers["etag"] == etag and r.headers["cache-control"] == CACHE_CONTROL
    r = await client.get(EXPERTS, headers={"If-Modified-Since": first.headers["last-modified"]})
    assert r.status_code == 304
    r = await client.get(EXPERTS, headers={"If-None-Match": '"something-else"'})
    assert r.status_code == 200 and r.content == first.content

    expert_id = first.json()[0]["id"]
    r = await client.patch(f"{EXPERTS}/{expert_id}", headers=bureau.headers, json={"name": "王三丰"})
    assert r.status_code == 200
    r = await client.get(EXPERTS, headers={"If-None-Match": etag})
    assert r.status_code == 200 and r.json()[0]["name"] == "王三丰"


async def test_each_query_is_its_own_entry(client, bureau, make_actor):
    await _add_expert(client, bureau, make_actor, "赵四")
    everyone = (await client.get(EXPERTS)).json()
    none = (await client.get(EXPERTS, params={"offset": 5})).json()
    assert len(everyone) == 1 and none == []


async def test_a_write_outside_the_api_bumps_the_version_in_its_transaction(session_factory):
    """The trigger counts statements in the writing transaction: a rolled-back write changes nothing."""
    def version() -> int:
        with session_factory() as s:
            return s.execute(text("SELECT coalesce(sum(version), 0) FROM public_versions "
                                  "WHERE table_name = 'organisations'")).scalar_one()

    before = version()
    with session_factory() as s:
        s.execute(text("INSERT INTO organisations (name, org_type, status, created_at) "
                       "VALUES ('rolled back', 'enterprise', 'active', now())"))
        s.rollback()
    assert version() == before
    with session_factory() as s, s.begin():
        s.execute(text("INSERT INTO organisations (name, org_type, status, created_at) "
                       "VALUES ('kept', 'enterprise', 'active', now())"))
    assert version() == before + 1


def test_the_cache_is_bounded():
    from api.public import _Entry

    cache = PublicCache(max_entries=2)
    for key in "abc":
        cache.put(key, _Entry((1,), b"x", '"e"', None, "application/json", None))
    assert cache.get("a", (1,)) is None and cache.get("c", (1,)) is not None
    assert cache.get("c", (2,)) is None  # another version: not served


def test_one_bump_per_transaction_and_one_counter_for_the_ledger(session_factory):
    def versions() -> dict[str, int]:
        with session_factory() as s:
            return dict(s.execute(text("SELECT table_name, sum(version) FROM public_versions GROUP BY 1")).all())

    before = versions()
    with session_factory() as s, s.begin():
        for name in ("one", "two", "three"):
            s.execute(text("INSERT INTO organisations (name, org_type, status, created_at) "
                           "VALUES (:n, 'enterprise', 'active', now())"), {"n": name})
        s.execute(text("UPDATE organisations SET name = name || '!'"))
    after = versions()
    assert after["organisations"] == before.get("organisations", 0) + 1
    with session_factory() as s, s.begin():
        ledger_store.ensure_account(s, s.execute(text("SELECT min(id) FROM organisations")).scalar_one())
        s.execute(text("UPDATE institutional_accounts SET frozen_reason = frozen_reason"))
    ledger = versions()
    assert ledger["ledger"] == after.get("ledger", 0) + 1
    assert "institutional_accounts" not in ledger


def test_csv_cells_never_start_a_formula():
    from api.public import to_csv

    body = to_csv([{"name": "=HYPERLINK(\"http://x\")", "n": -3, "ok": "武汉"}],
                  [("name", "名称 / name"), ("n", "数 / n"), ("ok", "区 / district")])
    assert body.decode("utf-8-sig").splitlines()[1] == "\"'=HYPERLINK(\"\"http://x\"\")\",-3,武汉"


def test_truncate_bumps_too(session_factory):
    with session_factory() as s, s.begin():
        before = s.execute(text("SELECT coalesce(sum(version), 0) FROM public_versions "
                                "WHERE table_name = 'experts'")).scalar_one()
        s.execute(text("TRUNCATE experts CASCADE"))
    with session_factory() as s:
        after = s.execute(text("SELECT coalesce(sum(version), 0) FROM public_versions "
                               "WHERE table_name = 'experts'")).scalar_one()
    assert after == before + 1


# --- the fast path (api/public.py PublicFastPath, store/public_versions.py) --------------------------------

import asyncio  # noqa: E402

from tests.test_speed import _served, _sql, _statements  # noqa: E402 (the app as served, with its listener)


async def _until(predicate, seconds: float = 5) -> None:
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("not within %s s" % seconds)


async def test_a_hit_runs_no_sql_and_answers_the_same_bytes_and_headers(settings, session_factory, engine, bureau,
                                                                       make_actor):
    async with _served(settings, session_factory) as (http, _):
        await _add_expert(http, bureau, make_actor, "钱五")
        first = await http.get(EXPERTS)  # a miss: the route reads the counters and the data
        assert first.status_code == 200
        hits = http._transport.app.state.public_cache.hits
        with _statements(engine) as seen:
            again = await http.get(EXPERTS)
            not_modified = await http.get(EXPERTS, headers={"If-None-Match": first.headers["etag"]})
        assert seen == []  # no version query, no session: answered before the route
        assert http._transport.app.state.public_cache.hits == hits + 2
        assert again.content == first.content
        same = ("content-type", "content-length", "etag", "last-modified", "cache-control")
        assert {h: again.headers[h] for h in same} == {h: first.headers[h] for h in same}
        assert not_modified.status_code == 304 and not_modified.content == b""
        assert not_modified.headers["etag"] == first.headers["etag"]
        # The hit is counted like any answer, under its route's template.
        metrics = (await http.get("/metrics")).text
        assert 'route="/api/v1/experts",status="200"' in metrics and 'status="304"' in metrics


async def test_a_write_through_the_api_shows_on_the_very_next_read(settings, session_factory, engine, bureau,
                                                                   make_actor, monkeypatch):
    from store.token_cache import Listener

    async with _served(settings, session_factory) as (http, _):
        # Notifications are not acted on here: what keeps this process fresh is its own forgetting.
        monkeypatch.setattr(Listener, "_read_public", lambda self, conn, counters: None)
        await _add_expert(http, bureau, make_actor, "孙六")
        await http.get(EXPERTS)
        with _statements(engine) as seen:
            assert [e["name"] for e in (await http.get(EXPERTS)).json()] == ["孙六"]
        assert seen == []  # served by the fast path ...
        await _add_expert(http, bureau, make_actor, "周七")  # ... then a write is answered:
        # no waiting for the notification: this process forgot its counters before answering the write.
        assert [e["name"] for e in (await http.get(EXPERTS)).json()] == ["孙六", "周七"]


async def test_a_write_by_another_process_shows_once_notified(settings, session_factory, engine, database_url,
                                                              bureau, make_actor):
    async with _served(settings, session_factory) as (http, _):
        versions = http._transport.app.state.public_versions
        await _add_expert(http, bureau, make_actor, "吴八")
        await http.get(EXPERTS)
        before = versions.current(("experts", "organisations"))
        assert before is not None
        # As the CLI, a worker or SQL by hand would: the bump trigger notifies every listener at commit.
        _sql(database_url, "UPDATE experts SET name = '郑九'")
        await _until(lambda: versions.current(("experts", "organisations")) not in (None, before))
        assert [e["name"] for e in (await http.get(EXPERTS)).json()] == ["郑九"]
        with _statements(engine) as seen:  # and the new answer is served from the fast path again
            assert [e["name"] for e in (await http.get(EXPERTS)).json()] == ["郑九"]
        assert seen == []


async def test_with_the_listener_down_answers_are_still_fresh(settings, session_factory, engine, database_url,
                                                              bureau, make_actor):
    async with _served(settings, session_factory) as (http, _):
        versions = http._transport.app.state.public_versions
        await _add_expert(http, bureau, make_actor, "王十")
        await http.get(EXPERTS)
        versions.listening = False  # as when its connection is lost: notifications could be missed
        _sql(database_url, "UPDATE experts SET name = '冯十一'")
        with _statements(engine) as seen:  # no waiting: the route asks the database for the counters
            assert [e["name"] for e in (await http.get(EXPERTS)).json()] == ["冯十一"]
        assert seen


def test_a_read_that_began_before_a_forget_does_not_put_old_counts_back():
    from store.public_versions import PublicVersions

    versions = PublicVersions()
    versions.listening = True
    versions.merge([("experts", 3)], versions.generation())
    assert versions.current(("experts",)) == (3,)
    generation = versions.generation()  # a read begins ...
    versions.invalidate()  # ... a write is answered ...
    versions.merge([("experts", 3)], generation)  # ... the read's (older) count is refused
    assert versions.current(("experts",)) is None
    versions.merge([("experts", 4)], versions.generation())
    versions.merge([("experts", 3)], versions.generation())  # counts only go up
    assert versions.current(("experts",)) == (4,)
    versions.listening = False
    assert versions.current(("experts",)) is None


async def test_a_calendar_year_is_cached_and_changes_when_a_year_is_loaded(settings, session_factory, engine):
    from datetime import datetime, timezone

    from domain import calendar_file
    from store import calendar
    from tests.test_working_days import EXAMPLE_2027

    async with _served(settings, session_factory) as (http, _):
        versions = http._transport.app.state.public_versions
        first = await http.get("/api/v1/calendar/2027")
        assert first.status_code == 200 and first.json()["official"] is False and "etag" in first.headers
        with _statements(engine) as seen:
            assert (await http.get("/api/v1/calendar/2027")).content == first.content
        assert seen == []
        before = versions.current(("calendar_years", "calendar_days"))
        try:
            with session_factory() as s, s.begin():  # as the CLI would (another process)
                calendar.load_year(s, calendar_file.parse(EXAMPLE_2027), replace=False, loaded_by="test",
                                   now=datetime.now(timezone.utc))
            await _until(lambda: versions.current(("calendar_years", "calendar_days")) not in (None, before))
            after = await http.get("/api/v1/calendar/2027")
            assert after.json()["official"] is True and after.headers["etag"] != first.headers["etag"]
        finally:  # the calendar is seed data: the cleaning between tests keeps it, so take 2027 back out
            with session_factory() as s, s.begin():
                s.execute(text("DELETE FROM calendar_years WHERE year = 2027"))
