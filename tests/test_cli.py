"""CLI bootstrap: organisations and users with a token printed once."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cli.main import main as cli_main
from settings import get_settings
from store import identity
from store.models.identity import Organisation, User


@pytest.fixture
def cli_env(monkeypatch, database_url):
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_orgs_and_users_create_print_a_working_token(cli_env, session_factory, capsys):
    assert cli_main(["orgs", "create", "--name", "Wuhan Ecology Bureau", "--type", "government", "--approve"]) == 0
    out = capsys.readouterr().out
    with session_factory() as s:
        org = s.scalar(select(Organisation).where(Organisation.name == "Wuhan Ecology Bureau"))
    assert org.status == "active" and f"organisation {org.id}" in out
    assert cli_main(["users", "create", "--name", "Li Wei", "--role", "bureau_admin", "--org", str(org.id)]) == 0
    out = capsys.readouterr().out
    token = out.split("token (shown once): ")[1].strip()
    with session_factory() as s:
        user = identity.authenticate(s, token)
        assert user is not None and user.role == "bureau_admin" and user.organisation_id == org.id


def test_users_create_refuses_unknown_organisation(cli_env, session_factory, capsys):
    assert cli_main(["users", "create", "--name", "X", "--role", "applicant", "--org", "999"]) == 2
    assert "organisation 999 does not exist" in capsys.readouterr().err
    with session_factory() as s:
        assert s.scalar(select(User.id)) is None


def test_cli_refuses_unknown_role():
    with pytest.raises(SystemExit) as exc:
        cli_main(["users", "create", "--name", "X", "--role", "emperor"])
    assert exc.value.code == 2


def test_users_create_applies_the_role_organisation_rule(cli_env, session_factory, capsys):
    assert cli_main(["users", "create", "--name", "A", "--role", "applicant"]) == 2
    assert "needs an organisation" in capsys.readouterr().err


def test_worker_role_is_chosen_on_the_command_line():
    from cli.main import build_parser
    from worker import WorkerRole

    assert build_parser().parse_args(["worker"]).only is None  # both kinds, as `tanpuhui dev` runs it
    for role in ("workflows", "activities"):
        assert WorkerRole(build_parser().parse_args(["worker", "--only", role]).only) == WorkerRole(role)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["worker", "--only", "everything"])


@pytest.mark.parametrize("command", [["migrate"], ["audit", "verify"], ["api"], ["worker"],
                                     ["orgs", "create", "--name", "x", "--type", "enterprise"]])
def test_a_missing_database_url_is_one_line_not_a_traceback(command):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "TEMPORAL_ADDRESS"}}
    result = subprocess.run([sys.executable, "-m", "cli.main", *command], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: DATABASE_URL is not set (tanpuhui dev sets it for the embedded database)"], result.stderr


def test_users_invite_prints_a_one_time_link_for_a_person(cli_env, session_factory, make_org, capsys):
    from store import web_auth

    org = make_org()
    assert cli_main(["users", "create", "--name", "Zhou", "--role", "applicant", "--org", str(org.id),
                     "--email", "zhou@example.cn"]) == 0
    assert cli_main(["users", "create", "--name", "Meter", "--role", "data_source", "--org", str(org.id),
                     "--email", "meter@example.cn"]) == 0
    capsys.readouterr()
    assert cli_main(["users", "invite", "--email", "zhou@example.cn"]) == 0
    link = capsys.readouterr().out.split("): ")[1].strip()
    assert link.startswith(get_settings().public_url.rstrip("/") + "/invitation/inv_")
    with session_factory() as s, s.begin():
        web_auth.accept_invitation(s, link.rsplit("/", 1)[1], "a long new password")
    # Once: the same link does not work again.
    with session_factory() as s:
        assert web_auth.open_invitation(s, link.rsplit("/", 1)[1]) is None
    assert cli_main(["users", "invite", "--email", "nobody@example.cn"]) == 2
    assert "no user" in capsys.readouterr().err
    assert cli_main(["users", "invite", "--email", "meter@example.cn"]) == 2  # a system: tokens only
    assert "bearer tokens" in capsys.readouterr().err
