"""Browser tests of the pages: the app served by uvicorn on a free port in the test's event loop, the
real worker on the Temporal dev server (real visibility for the dashboard), and Debian's Chromium
driven by Playwright (never a downloaded browser). Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import uvicorn

from api.app import create_app
from domain.roles import Role
from store import identity, web_auth
from store.models.identity import Organisation, User
from tests import support
from tests.conftest import Actor

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
PASSWORD = "correct horse battery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest_asyncio.fixture(scope="module")
async def live_worker(local_temporal_env, session_factory, settings, activity_executor):
    from worker import build_worker

    w = build_worker(local_temporal_env.client, session_factory, settings, executor=activity_executor,
                     workflow_failure_exception_types=[Exception])
    async with w:
        yield w


@pytest_asyncio.fixture(scope="module")
async def live_server(local_temporal_env, session_factory, settings, live_worker) -> AsyncIterator[str]:
    port = _free_port()
    web_settings = settings.model_copy(update={"temporal_ui_url": "http://127.0.0.1:8233",
                                               "public_url": f"http://127.0.0.1:{port}"})
    app = create_app(web_settings, session_factory=session_factory, temporal_client=local_temporal_env.client)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the server did not start"
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest_asyncio.fixture
async def api(live_server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_server, timeout=30) as c:
        yield c


@pytest_asyncio.fixture(scope="module")
async def browser():
    from playwright.async_api import async_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/setup does it when it can)")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        await b.close()


async def new_page(browser, base_url: str, *, phone: bool = False, lang: str | None = None):
    viewport = {"width": 390, "height": 844} if phone else {"width": 1280, "height": 900}
    context = await browser.new_context(base_url=base_url, viewport=viewport, locale="zh-CN",
                                        timezone_id="Asia/Shanghai")
    if lang:
        await context.add_cookies([{"name": "tph_lang", "value": lang, "url": base_url}])
    return await context.new_page()


async def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def person(session_factory, role: Role, org: Organisation | None, *, name: str | None = None,
           password: str | None = PASSWORD) -> Actor:
    """A user with an e-mail, a bearer token (for API set-up steps) and, unless None, a password set
    through an invitation (the store's own path)."""
    with session_factory() as s, s.begin():
        email = f"{role.value}-{uuid.uuid4().hex[:8]}@example.cn"
        user = identity.create_user(s, name=name or f"{role.value} {uuid.uuid4().hex[:4]}", role=role,
                                    organisation=s.get(Organisation, org.id) if org else None, email=email)
        _, token = identity.issue_token(s, user, ttl_days=1)
        if password:
            _, link = web_auth.create_invitation(s, user, ttl_hours=1, actor=None)
            web_auth.accept_invitation(s, link, password)
    return Actor(user=user, token=token)


# Every click that leads to another page is wrapped in `page.expect_navigation()`: a bare click followed by
# wait_for_load_state() may be answered by the page still shown (the form's POST not answered yet), and the
# test then reads the old page; on a loaded machine it did.
async def sign_in(page, actor: Actor, password: str = PASSWORD) -> None:
    await page.goto("/sign-in")
    await page.get_by_label("电子邮箱").fill(actor.user.email)
    await page.get_by_label("密码").fill(password)
    async with page.expect_navigation():
        await page.get_by_role("button", name="登录").click()


async def eventually(check, what: str, seconds: float = 30.0):
    return await support.eventually(check, what, timeout=seconds, every=0.2)
