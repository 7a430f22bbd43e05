"""One settings object for every process (API, worker, CLI), read from the environment."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class MissingSetting(RuntimeError):
    """A variable a command needs is not set; the CLI prints this one line, not a traceback."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    # When unset, `tanpuhui dev` starts an embedded PostgreSQL under data_dir and sets it.
    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    # When unset, `tanpuhui dev` starts the Temporal dev server and sets it.
    temporal_address: str | None = Field(default=None, alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field(default="default", alias="TEMPORAL_NAMESPACE")
    task_queue: str = Field(default="tanpuhui", alias="TASK_QUEUE")
    data_dir: Path = Field(default=Path(".tanpuhui"), alias="TANPUHUI_DATA_DIR")

    # Secrets: webhook signing falls back to per-organisation secrets; this one encrypts
    # reporters' identities at rest (Art. 34) and signs nothing else.
    secret_key: SecretStr = Field(default=SecretStr("dev-only-change-me"), alias="TANPUHUI_SECRET_KEY")
    # Earlier secret keys, comma-separated, newest first: sealed reporter identities are still opened with
    # them (and re-sealed with the current key by `tanpuhui`'s rotation, store.sealing.rotate).
    old_secret_keys: SecretStr = Field(default=SecretStr(""), alias="TANPUHUI_OLD_SECRET_KEYS")
    # Reports (Art. 34): caps per source address (kept only as a keyed hash) and per reported participant.
    reports_per_source_per_hour: int = Field(default=5, alias="REPORTS_PER_SOURCE_PER_HOUR", ge=1)
    reports_per_participant_per_hour: int = Field(default=30, alias="REPORTS_PER_PARTICIPANT_PER_HOUR", ge=1)
    token_ttl_days: int = Field(default=90, alias="TOKEN_TTL_DAYS", ge=1)
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, alias="MAX_UPLOAD_BYTES", ge=1)
    activity_threads: int = Field(default=16, alias="ACTIVITY_THREADS", ge=1)
    # How long a request waits on a workflow (an update, a query) before answering 504; it holds no database
    # connection meanwhile.
    temporal_wait_seconds: float = Field(default=15.0, alias="TEMPORAL_WAIT_SECONDS", gt=0, le=300)
    # Addresses of reverse proxies whose X-Forwarded-For/-Proto are believed (comma-separated IPs or CIDRs,
    # "*" for any). Empty: forwarded headers are ignored, the peer address is the client's.
    trusted_proxies: str = Field(default="", alias="TRUSTED_PROXIES")
    # Public objections (Art. 20): caps per source address (kept only as a keyed hash) and per notice.
    objections_per_source_per_hour: int = Field(default=5, alias="OBJECTIONS_PER_SOURCE_PER_HOUR", ge=1)
    objections_per_notice_per_hour: int = Field(default=60, alias="OBJECTIONS_PER_NOTICE_PER_HOUR", ge=1)
    # Uploads never attached to a case are deleted after this many hours (the API looks hourly).
    # host:port where a worker serves the Temporal SDK's Prometheus metrics (e.g. 0.0.0.0:9464); empty: none.
    worker_metrics_address: str = Field(default="", alias="WORKER_METRICS_ADDRESS")
    # Workflows a worker keeps in memory between tasks (the SDK's default when unset). 0 turns sticky
    # execution off: every task replays the history, and a killed worker strands no task on its own queue.
    max_cached_workflows: int | None = Field(default=None, alias="MAX_CACHED_WORKFLOWS", ge=0)
    unattached_upload_retention_hours: int = Field(default=72, alias="UNATTACHED_UPLOAD_RETENTION_HOURS", ge=1)

    # Web pages for people (web/): where the platform is reached (invitation links), the Temporal UI
    # linked from case pages, and how long sign-in sessions and invitation links live.
    public_url: str = Field(default="http://127.0.0.1:8000", alias="PUBLIC_URL")
    temporal_ui_url: str | None = Field(default=None, alias="TEMPORAL_UI_URL")
    web_session_idle_minutes: int = Field(default=120, alias="WEB_SESSION_IDLE_MINUTES", ge=1)
    web_session_max_hours: int = Field(default=12, alias="WEB_SESSION_MAX_HOURS", ge=1)
    invitation_ttl_hours: int = Field(default=72, alias="INVITATION_TTL_HOURS", ge=1)

    @property
    def documents_dir(self) -> Path:
        return self.data_dir / "documents"

    def require_database_url(self) -> str:
        if not self.database_url:
            raise MissingSetting("DATABASE_URL is not set (tanpuhui dev sets it for the embedded database)")
        return self.database_url

    def require_temporal_address(self) -> str:
        if not self.temporal_address:
            raise MissingSetting("TEMPORAL_ADDRESS is not set (tanpuhui dev sets it for the dev server)")
        return self.temporal_address


@lru_cache
def get_settings() -> Settings:
    return Settings()


def binary_path(name: str) -> str | None:
    """A pip-installed binary (temporal, temporal-test-server): the running venv's bin/ first, then PATH."""
    import shutil
    import sys

    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    return shutil.which(name)
