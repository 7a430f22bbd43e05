"""docker-compose.yml checked statically (Docker is not needed): services, order, settings names, scaling."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from settings import Settings
from workflows import search_attributes

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("migrate", "api", "workflow-worker", "activity-worker")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def _conditions(service: dict) -> dict[str, str]:
    depends = service.get("depends_on") or {}
    assert isinstance(depends, dict), "depends_on must name a condition for every dependency"
    return {name: spec["condition"] for name, spec in depends.items()}


def test_every_part_of_the_platform_is_a_service(services):
    assert set(services) == {"postgresql", "temporal", "temporal-search-attributes", "temporal-ui",
                             "migrate", "api", "workflow-worker", "activity-worker"}


def test_services_start_in_order_with_conditions(services):
    assert _conditions(services["temporal"]) == {"postgresql": "service_healthy"}
    assert _conditions(services["temporal-search-attributes"]) == {"temporal": "service_healthy"}
    assert _conditions(services["temporal-ui"]) == {"temporal": "service_healthy"}
    assert _conditions(services["migrate"]) == {"postgresql": "service_healthy"}
    for name in ("api", "workflow-worker", "activity-worker"):
        assert _conditions(services[name]) == {
            "postgresql": "service_healthy",
            "temporal": "service_healthy",
            "temporal-search-attributes": "service_completed_successfully",
            "migrate": "service_completed_successfully",
        }, name


def test_what_others_wait_on_has_a_health_check(services):
    waited_on_healthy = {dep for s in services.values() for dep, cond in _conditions(s).items()
                         if cond == "service_healthy"}
    for name in waited_on_healthy | {"api"}:
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no health check"
    assert "/api/v1/health" in " ".join(services["api"]["healthcheck"]["test"])


def test_one_shot_services_do_not_restart(services):
    for name in ("migrate", "temporal-search-attributes"):
        assert services[name]["restart"] == "no"
    assert services["migrate"]["command"] == ["tanpuhui", "migrate"]


def test_app_services_use_only_setting_names(services):
    names = {field.alias or name.upper() for name, field in Settings.model_fields.items()}
    for service in APP_SERVICES:
        env = services[service]["environment"]
        assert isinstance(env, dict)
        unknown = set(env) - names
        assert not unknown, f"{service} sets {unknown}, which settings.Settings does not read"
        assert {"DATABASE_URL", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TASK_QUEUE"} <= set(env), service


def test_app_services_agree_on_database_temporal_and_queue(services):
    envs = [services[s]["environment"] for s in APP_SERVICES]
    for key in ("DATABASE_URL", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TASK_QUEUE"):
        assert len({e[key] for e in envs}) == 1, key
    assert envs[0]["DATABASE_URL"].split("@", 1)[1].startswith("postgresql:5432/")
    assert envs[0]["TEMPORAL_ADDRESS"] == "temporal:7233"


def test_registered_search_attributes_are_exactly_those_cases_upsert(services):
    setup = services["temporal-search-attributes"]
    declared = setup["environment"]["SEARCH_ATTRIBUTES"].split()
    # The same Name=Type pairs the dev server is started with.
    expected = [arg for arg in search_attributes.dev_server_args() if arg != "--search-attribute"]
    assert sorted(declared) == sorted(expected)
    assert "search-attribute create" in " ".join(setup["command"])


def test_workers_run_workflows_and_activities_apart_and_scale(services):
    for name, role in (("workflow-worker", "workflows"), ("activity-worker", "activities")):
        worker = services[name]
        assert "container_name" not in worker
        assert "ports" not in worker
        assert worker["command"] == ["tanpuhui", "worker", "--only", role]


def test_dockerfile_installs_the_project_and_the_cli(compose):
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11", dockerfile, re.M)
    assert "pip install ." in dockerfile
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    for package in project["packages"]["find"]["include"]:
        assert re.search(rf"^COPY {package.rstrip('*')} ", dockerfile, re.M), package
    for module in project["py-modules"]:
        assert re.search(rf"^COPY .*\b{module}\.py\b", dockerfile, re.M), module
    for service in APP_SERVICES:
        assert compose["services"][service]["build"] == "."
