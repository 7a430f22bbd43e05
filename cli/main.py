"""`tanpuhui` CLI: dev, api, worker, migrate, organisation/user bootstrap, audit verify, calendar, demo."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from domain.roles import OrganisationStatus, OrganisationType, Role, role_organisation_error
from domain.rules import Refusal
from settings import MissingSetting, get_settings

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str):
    def register(fn):
        COMMANDS[name] = fn
        return fn

    return register


def _session_factory():
    from store.session import make_engine, make_session_factory

    return make_session_factory(make_engine(get_settings().require_database_url(), pool_size=2))


@command("api")
def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    get_settings().require_database_url()  # refused here in one line, not inside the server's start-up
    if args.workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.workers == 1:
        uvicorn.Server(api_server_config(served_app(), host=args.host, port=args.port)).run()
        return 0
    # Several processes on one socket (uvicorn's supervisor restarts one that dies): one Python process
    # uses one core at most, whatever its threads do. Each process builds its own app (and its own
    # database pool and Temporal connection) from the factory.
    from api.observability import configure_logging

    configure_logging()  # the supervisor's own lines
    config = api_server_config("cli.main:served_app", host=args.host, port=args.port, factory=True,
                               workers=args.workers)
    from uvicorn.supervisors import Multiprocess

    Multiprocess(config, sockets=[config.bind_socket()]).run()
    return 0


def served_app():
    """The app as `tanpuhui api` serves it, logging as api.observability configures it (also in each
    worker process of `--workers N`, which imports this factory afresh)."""
    from api.app import create_app
    from api.observability import configure_logging

    configure_logging()
    return create_app()


def api_server_config(app, *, host: str, port: int, **options):
    """How the API is served. Forwarded headers are the app's business (TRUSTED_PROXIES): uvicorn's own
    default would believe X-Forwarded-For from 127.0.0.1, where anyone on the machine connects from."""
    import uvicorn

    # Logging as api.observability configures it (JSON with request ids); the access lines come from the app
    # itself, without client addresses or query strings (personal data stays out of logs).
    return uvicorn.Config(app, host=host, port=port, log_level="info", proxy_headers=False, log_config=None,
                          access_log=False, **options)


@command("worker")
def cmd_worker(args: argparse.Namespace) -> int:
    import worker

    get_settings().require_database_url()
    get_settings().require_temporal_address()
    worker.main(worker.WorkerRole(args.only or "all"))
    return 0


@command("migrate")
def cmd_migrate(_: argparse.Namespace) -> int:
    from store.migrate import upgrade

    upgrade(get_settings().require_database_url())
    print("database is at the latest migration")
    return 0


@command("dev")
def cmd_dev(args: argparse.Namespace) -> int:
    from cli.dev import run_dev

    return run_dev(args)


@command("orgs.create")
def cmd_orgs_create(args: argparse.Namespace) -> int:
    from store import identity
    from store.session import transaction

    with transaction(_session_factory()) as session:
        org = identity.create_organisation(
            session, name=args.name, org_type=OrganisationType(args.type), credit_code=args.credit_code,
            status=OrganisationStatus.ACTIVE if args.approve else OrganisationStatus.PENDING)
        print(f"organisation {org.id} '{org.name}' ({org.org_type}, {org.status})")
    return 0


@command("users.create")
def cmd_users_create(args: argparse.Namespace) -> int:
    from store import identity
    from store.models.identity import Organisation
    from store.session import transaction

    with transaction(_session_factory()) as session:
        org = session.get(Organisation, args.org) if args.org is not None else None
        if args.org is not None and org is None:
            print(f"error: organisation {args.org} does not exist", file=sys.stderr)
            return 2
        error = role_organisation_error(Role(args.role), OrganisationType(org.org_type) if org else None)
        if error is not None:
            print(f"error: --org: {error[1]}", file=sys.stderr)
            return 2
        user = identity.create_user(session, name=args.name, role=Role(args.role), organisation=org, email=args.email)
        _, secret = identity.issue_token(session, user, ttl_days=get_settings().token_ttl_days, label="cli")
        print(f"user {user.id} '{user.name}' ({user.role})")
        print(f"token (shown once): {secret}")
    return 0


@command("users.invite")
def cmd_users_invite(args: argparse.Namespace) -> int:
    """Print a one-time set-password link for a person (also a password reset), as the authorities'
    user page and `POST /users/{id}/invitations` do; for whoever runs the system, with no actor."""
    from sqlalchemy import select

    from store import web_auth
    from store.models.identity import User
    from store.session import transaction

    settings = get_settings()
    with transaction(_session_factory()) as session:
        user = session.scalar(select(User).where(User.email == args.email.strip()))
        if user is None:
            print(f"error: no user with e-mail {args.email}", file=sys.stderr)
            return 2
        refusal = web_auth.invitation_refusal(user)
        if refusal is not None:
            print(f"error: {refusal[0]}: {refusal[2]}", file=sys.stderr)
            return 2
        row, secret = web_auth.create_invitation(session, user, ttl_hours=settings.invitation_ttl_hours, actor=None)
        print(f"user {user.id} '{user.name}' ({user.role}) invited")
        print(f"one-time link (shown once, valid until {row.expires_at.isoformat()}): "
              f"{settings.public_url.rstrip('/')}/invitation/{secret}")
    return 0


@command("audit.verify")
def cmd_audit_verify(_: argparse.Namespace) -> int:
    from store import audit

    with _session_factory()() as session:
        report = audit.verify(session)
    if report.ok:
        print(f"audit chain intact: {report.events} events")
        return 0
    print(f"audit chain broken at event {report.first_bad_id}: {report.reason} "
          f"({report.events} events before it verified)", file=sys.stderr)
    return 1


@command("calendar.load")
def cmd_calendar_load(args: argparse.Namespace) -> int:
    from domain import calendar_file
    from store import calendar
    from domain.clock import now_utc
    from store.session import transaction

    try:
        with open(args.file, encoding="utf-8-sig") as f:
            parsed = calendar_file.parse(f.read())
    except OSError as exc:
        print(f"error: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    except Refusal as refused:
        print(f"{args.file}: refused whole, nothing loaded", file=sys.stderr)
        for e in refused.errors:
            text = e.extra.get("text", "")
            print(f"  {e.field}: {e.message} [{e.rule}]" + (f"\n    {text.strip()}" if text else ""),
                  file=sys.stderr)
        return 1
    try:
        with transaction(_session_factory()) as session:
            result = calendar.load_year(session, parsed, replace=args.replace, now=now_utc(), loaded_by="cli")
    except calendar.YearAlreadyLoaded as exc:
        print(f"error: {exc} (--replace)", file=sys.stderr)
        return 1
    print(f"calendar {parsed.year}: {result.outcome} ({len(parsed.days_off)} days off, "
          f"{len(parsed.working_weekends)} working weekend days)")
    if result.outcome != "unchanged":
        print("running cases recheck a provisional deadline when it is reached; "
              "POST /api/v1/publicity-notices/recompute tells them now")
    return 0


@command("calendar.show")
def cmd_calendar_show(args: argparse.Namespace) -> int:
    from domain import calendar_file
    from store import calendar

    with _session_factory()() as session:
        row = calendar.get_year(session, args.year)
        if row is None:
            print(f"# {args.year}: no official calendar loaded; deadlines assume weekends only (provisional)")
            return 1
        print(f"# loaded {row.loaded_at.isoformat()} by {row.loaded_by}")
        print(calendar_file.render(calendar.official_year(row)), end="")
    return 0


@command("demo")
def cmd_demo(args: argparse.Namespace) -> int:
    import os

    from cli.demo import run

    token = args.token or os.environ.get("TANPUHUI_TOKEN")
    if not token:
        print("error: pass --token or set TANPUHUI_TOKEN (a bureau_admin token: tanpuhui users create)",
              file=sys.stderr)
        return 2
    return run(args.api_url, token)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tanpuhui", description="Tanpuhui carbon-inclusion platform")
    sub = parser.add_subparsers(dest="cmd", required=True)

    dev = sub.add_parser("dev", help="run everything embedded: PostgreSQL, Temporal, migrations, API, worker")
    dev.add_argument("--data-dir", default=None, help="data folder (default .tanpuhui/)")
    dev.add_argument("--api-port", type=int, default=8000)
    dev.add_argument("--temporal-port", type=int, default=7233)
    dev.set_defaults(key="dev")

    api = sub.add_parser("api", help="serve the HTTP API")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument("--workers", type=int, default=1,
                     help="server processes (one per core the API may use; README: Running, sizing)")
    api.set_defaults(key="api")

    wk = sub.add_parser("worker", help="run the Temporal worker")
    wk.add_argument("--only", choices=["workflows", "activities"], default=None,
                    help="poll only for workflow tasks or only for activities (deployment runs one of each)")
    wk.set_defaults(key="worker")
    sub.add_parser("migrate", help="upgrade the database to the latest migration").set_defaults(key="migrate")

    orgs = sub.add_parser("orgs", help="organisations").add_subparsers(dest="orgs_cmd", required=True)
    oc = orgs.add_parser("create", help="create an organisation")
    oc.add_argument("--name", required=True)
    oc.add_argument("--type", required=True, choices=[t.value for t in OrganisationType])
    oc.add_argument("--credit-code", default=None)
    oc.add_argument("--approve", action="store_true", help="create it active")
    oc.set_defaults(key="orgs.create")

    users = sub.add_parser("users", help="users").add_subparsers(dest="users_cmd", required=True)
    uc = users.add_parser("create", help="create a user and print a token once")
    uc.add_argument("--name", required=True)
    uc.add_argument("--role", required=True, choices=[r.value for r in Role])
    uc.add_argument("--org", type=int, default=None, help="organisation id")
    uc.add_argument("--email", default=None)
    uc.set_defaults(key="users.create")
    ui = users.add_parser("invite", help="print a one-time link for a person to set a password (also a reset)")
    ui.add_argument("--email", required=True)
    ui.set_defaults(key="users.invite")

    aud = sub.add_parser("audit", help="audit trail").add_subparsers(dest="audit_cmd", required=True)
    aud.add_parser("verify", help="verify the hash chain; exit 1 naming the first bad event").set_defaults(
        key="audit.verify")

    cal = sub.add_parser("calendar", help="official working-day calendar").add_subparsers(
        dest="calendar_cmd", required=True)
    cl = cal.add_parser("load", help="load one year from a file (docs/working-day-calendar.md)")
    cl.add_argument("file")
    cl.add_argument("--replace", action="store_true", help="replace a year that is already loaded")
    cl.set_defaults(key="calendar.load")
    cs = cal.add_parser("show", help="print a loaded year in the file format")
    cs.add_argument("year", type=int)
    cs.set_defaults(key="calendar.show")

    docs = sub.add_parser("documents", help="uploaded documents").add_subparsers(dest="documents_cmd", required=True)
    docs.add_parser("purge", help="delete uploads never attached to a case after UNATTACHED_UPLOAD_RETENTION_HOURS"
                    ).set_defaults(key="documents.purge")

    rep = sub.add_parser("reports", help="reports (举报, Art. 34)").add_subparsers(dest="reports_cmd", required=True)
    rep.add_parser("reseal", help="re-seal every reporter under TANPUHUI_SECRET_KEY (after moving the old key into "
                   "TANPUHUI_OLD_SECRET_KEYS; docs/supervision.md)").set_defaults(key="reports.reseal")

    demo = sub.add_parser("demo", help="load demo data through the API of a running system (docs/methodology.md)")
    demo.add_argument("--api-url", default="http://127.0.0.1:8000")
    demo.add_argument("--token", default=None, help="a bureau_admin bearer token (or TANPUHUI_TOKEN)")
    demo.set_defaults(key="demo")
    return parser


@command("documents.purge")
def cmd_documents_purge(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from store.documents import purge_unattached
    from domain.clock import now_utc

    settings = get_settings()
    now = now_utc()
    with _session_factory()() as session:
        removed = purge_unattached(session, settings.documents_dir, now=now,
                                   older_than=now - timedelta(hours=settings.unattached_upload_retention_hours))
    print(f"removed {len(removed)} unattached upload(s) older than "
          f"{settings.unattached_upload_retention_hours} h")
    return 0


@command("reports.reseal")
def cmd_reports_reseal(_: argparse.Namespace) -> int:
    from store import sealing
    from store.session import transaction

    with transaction(_session_factory()) as session:
        count = sealing.rotate(session, get_settings())
    print(f"re-sealed {count} reporter(s) under the current key; the old keys may now be dropped")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.key](args)
    except MissingSetting as missing:
        print(f"error: {missing}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
