"""`tanpuhui demo`: demo data loaded through the HTTP API of a running system.

Given the API URL and a bureau administrator's token (`tanpuhui users create --role bureau_admin`),
it creates organisations, users and three experts, then takes two methodologies through the real
workflow (submission → completeness check → expert panel → publication): a `personal` methodology
with the reference behaviour table and a `project` methodology for distributed PV; then the operator
approves a data source (the metro), a resident signs up and binds it, and one batch is accounted. Every create
carries an Idempotency-Key and every step looks at the case's stage first, so running it again
finishes what is unfinished and duplicates nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httpx

API = "/api/v1"

# Reference factors seen in public reporting of city schemes (shared/reference/personal-behaviour-factors.md):
# code, name, unit, gCO2e per unit (exact decimal string), daily cap per person.
BEHAVIOURS = [
    ("metro_km", "Metro ride", "passenger-km by metro", "78.4", 100),
    ("shared_bike_km", "Shared bike ride", "km ridden on a shared bike", "93.3", 30),
    ("bus_ride", "Bus ride", "one bus ride", "150", 6),
    ("nev_km", "New-energy car instead of petrol", "km driven in a new-energy car", "95", 200),
    ("saved_kwh", "Demand-response saving", "kWh saved in a demand-response event", "525", 20),
    ("no_cutlery_order", "Take-away without cutlery", "take-away order without disposable cutlery", "23", 5),
    ("own_bag", "Own shopping bag", "purchase with one's own shopping bag", "5", 10),
    ("second_hand_phone", "Second-hand phone traded", "one second-hand phone traded", "25000", 1),
    ("walk_step", "Walking", "one step walked", "0.02", 30000),
]

PERSONAL = {
    "title": "Personal low-carbon behaviours of Wuhan residents",
    "code_suggestion": "WH-M-TRAVEL",
    "scope": "personal",
    "domain": "low_carbon_travel",
    "summary": "Reductions of residents' low-carbon travel, saving and consumption behaviours, credited per "
               "record as quantity × factor (rounded half-up to grams) within a daily cap per person.",
    "behaviours": [{"code": c, "name": n, "unit": u, "factor": f, "daily_cap": cap} for c, n, u, f, cap in BEHAVIOURS],
}

PROJECT = {
    "title": "Distributed photovoltaic generation",
    "code_suggestion": "WH-M-ENERGY",
    "scope": "project",
    "domain": "energy_substitution",
    "summary": "Grid electricity displaced by rooftop and distributed PV, at the Central China grid emission "
               "factor (0.5271 kgCO2/kWh, 2023); monitored by the generation meter.",
}


class DemoError(RuntimeError):
    pass


@dataclass
class DemoResult:
    organisations: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # user name → bearer token (shown once)
    expert_ids: list[int] = field(default_factory=list)
    published: dict[str, str] = field(default_factory=dict)  # methodology title → "CODE vN"
    # Personal reductions: the data source, the resident's account and the demo batch's outcomes.
    data_source_id: int | None = None
    resident_account: str | None = None
    batch: dict = field(default_factory=dict)


class _Api:
    def __init__(self, client: httpx.AsyncClient, token: str, timeout: float) -> None:
        self.client = client
        self.bureau = {"Authorization": f"Bearer {token}"}
        self.timeout = timeout

    async def call(self, method: str, path: str, headers: dict, *, key: str | None = None, **kwargs) -> dict | list:
        if key is not None:
            headers = {**headers, "Idempotency-Key": f"demo-{key}"}
        r = await self.client.request(method, API + path, headers=headers, **kwargs)
        if r.status_code >= 400:
            raise DemoError(f"{method} {path}: {r.status_code} {r.text}")
        return r.json()

    async def until(self, what: str, fetch, done) -> dict:
        """Poll until the workflow has moved on (its steps run asynchronously)."""
        deadline = asyncio.get_running_loop().time() + self.timeout
        while True:
            value = await fetch()
            if done(value):
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise DemoError(f"timed out waiting for {what}")
            await asyncio.sleep(0.1)


async def _organisation(api: _Api, name: str, org_type: str) -> int:
    org = await api.call("POST", "/organisations", api.bureau, key=f"org-{name}",
                         json={"name": name, "org_type": org_type})
    await api.call("POST", f"/organisations/{org['id']}/approve", api.bureau)
    return org["id"]


async def _user(api: _Api, name: str, role: str, org_id: int, result: DemoResult) -> tuple[int, dict]:
    user = await api.call("POST", "/users", api.bureau, key=f"user-{name}",
                          json={"name": name, "role": role, "organisation_id": org_id})
    token = (await api.call("POST", f"/users/{user['id']}/tokens", api.bureau, json={"label": "demo"}))["token"]
    result.tokens[name] = token
    return user["id"], {"Authorization": f"Bearer {token}"}


async def _publish(api: _Api, applicant: dict, body: dict, experts: list[tuple[int, dict]]) -> str:
    """Take one methodology through the real workflow to publication."""
    case = await api.call("POST", "/methodologies", applicant, key=f"methodology-{body['title']}", json=body)
    path = f"/methodologies/{case['id']}"
    case = await api.call("GET", path, api.bureau)
    if case["stage"] == "completeness_check":
        case = await api.call("POST", f"{path}/completeness", api.bureau, json={"decision": "accept"})
    if case["stage"] == "panel_review":
        review = f"/reviews/{case['review_id']}"
        view = await api.until("the review to start", lambda: api.client.get(API + review, headers=api.bureau),
                               lambda r: r.status_code == 200)
        if not view.json().get("tasks"):
            await api.call("POST", f"{review}/panel", api.bureau, json={"expert_ids": [e for e, _ in experts]})
        for _, headers in experts:
            open_tasks = await api.call("GET", "/review-tasks", headers, params={"status": "open"})
            for task in (t for t in open_tasks if t["review_id"] == case["review_id"]):
                await api.call("POST", f"/review-tasks/{task['task_id']}/decision", headers,
                               json={"vote": "approve", "comments": "Sound method; factors documented."})
        case = await api.until("the panel's approval", lambda: api.call("GET", path, api.bureau),
                               lambda c: c["stage"] != "panel_review")
    if case["stage"] == "publication_decision":
        case = await api.call("POST", f"{path}/publication", api.bureau, json={"decision": "publish"})
    if case["stage"] != "published":
        raise DemoError(f"{case['case_id']} ended at stage {case['stage']}")
    return f"{case['published']['code']} {case['published']['version']}"


async def load_demo(client: httpx.AsyncClient, bureau_token: str, *, timeout: float = 60.0) -> DemoResult:
    """Load the demo through `client` (an httpx client on the API's base URL) as the given bureau user."""
    api = _Api(client, bureau_token, timeout)
    result = DemoResult()
    for name, org_type in (("Wuhan Green Travel Co.", "enterprise"), ("Hubei Rooftop Solar Co.", "enterprise"),
                           ("Wuhan University Carbon Centre", "public_institution")):
        result.organisations[name] = await _organisation(api, name, org_type)
    _, travel = await _user(api, "Li Wei (Green Travel)", "applicant",
                            result.organisations["Wuhan Green Travel Co."], result)
    _, solar = await _user(api, "Zhang Min (Rooftop Solar)", "applicant",
                           result.organisations["Hubei Rooftop Solar Co."], result)
    experts = []
    for name, expertise in (("Prof. Chen", "low-carbon travel"), ("Prof. Wang", "energy substitution"),
                            ("Dr. Liu", "carbon accounting")):
        user_id, headers = await _user(api, name, "expert", result.organisations["Wuhan University Carbon Centre"],
                                       result)
        expert = await api.call("POST", "/experts", api.bureau, key=f"expert-{name}",
                                json={"user_id": user_id, "name": name, "expertise": [expertise]})
        result.expert_ids.append(expert["id"])
        experts.append((expert["id"], headers))
    result.published[PERSONAL["title"]] = await _publish(api, travel, PERSONAL, experts)
    result.published[PROJECT["title"]] = await _publish(api, solar, PROJECT, experts)
    await _personal(api, result)
    return result


RESIDENT = {"name": "王芳 Wang Fang", "email": "wang.fang@demo.tanpuhui.cn", "password": "demo-resident-2026"}


async def _personal(api: _Api, result: DemoResult) -> None:
    """A data source (the metro) approved by the operator, a resident bound to it, one accounted batch."""
    from datetime import datetime, timedelta, timezone

    for name, org_type in (("Wuhan Carbon Inclusion Operations Centre", "public_institution"),
                           ("Wuhan Metro Group", "enterprise")):
        result.organisations[name] = await _organisation(api, name, org_type)
    _, operator = await _user(api, "Chen Jing (Operations Centre)", "operator_admin",
                              result.organisations["Wuhan Carbon Inclusion Operations Centre"], result)
    _, metro = await _user(api, "Metro data feed", "data_source", result.organisations["Wuhan Metro Group"], result)
    source = await api.call("POST", "/data-sources", operator, json={
        "organisation_id": result.organisations["Wuhan Metro Group"], "behaviours": ["metro_km", "walk_step"]})
    result.data_source_id = source["id"]
    r = await api.client.post(f"{API}/residents", json=RESIDENT)
    if r.status_code == 409:  # run again: sign in instead
        r = await api.client.post(f"{API}/residents/tokens", json={k: RESIDENT[k] for k in ("email", "password")})
    if r.status_code >= 400:
        raise DemoError(f"resident sign-up: {r.status_code} {r.text}")
    resident = {"Authorization": f"Bearer {r.json()['token']}"}
    result.resident_account = r.json()["account_number"]
    result.tokens[RESIDENT["name"]] = r.json()["token"]
    bindings = await api.call("GET", "/personal-account/bindings", resident)
    if not any(b["source_id"] == source["id"] and b["unbound_at"] is None for b in bindings):
        code = await api.call("POST", "/binding-codes", metro, json={"subject_ref": "metro-card-0001"})
        await api.call("POST", "/personal-account/bindings", resident, json={"code": code["code"]})
    now = datetime.now(timezone.utc)
    records = [{"source_event_id": f"demo-ride-{i}", "subject_ref": "metro-card-0001", "behaviour": "metro_km",
                "quantity": km, "unit": BEHAVIOURS[0][2], "occurred_at": (now - timedelta(minutes=5 * i)).isoformat()}
               for i, km in enumerate((12.4, 8.0, 21.5))]
    records.append({**records[0]})  # the same ride sent twice: a duplicate
    batch = await api.call("POST", "/behaviour-batches", metro, key="behaviour-batch-1", json={"records": records})
    result.batch = await api.until("the batch's accounting",
                                   lambda: api.call("GET", f"/behaviour-batches/{batch['batch_id']}", metro),
                                   lambda b: b["status"] != "received")


def run(api_url: str, token: str) -> int:
    async def go() -> DemoResult:
        async with httpx.AsyncClient(base_url=api_url.rstrip("/"), timeout=30) as client:
            return await load_demo(client, token)

    try:
        result = asyncio.run(go())
    except (DemoError, httpx.HTTPError) as e:
        print(f"demo failed: {e}")
        return 1
    for title, code in result.published.items():
        print(f"published {code}: {title}")
    if result.batch:
        print(f"behaviour batch {result.batch['batch_id']}: {result.batch['counts']}, {result.batch['grams']} g "
              f"credited to {result.resident_account}")
    for name, token in result.tokens.items():
        print(f"token for {name} (shown once): {token}")
    return 0
