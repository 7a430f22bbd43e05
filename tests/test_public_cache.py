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
