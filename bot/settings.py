"""Environment settings: built once at start and passed down, never read at import."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """The environment contract of DESIGN.md section 4; secrets stay SecretStr."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    database_url: str = "sqlite:///./oncall.db"
    oncall_config: str = "./oncall.yaml"
    alert_webhook_token: SecretStr | None = None
    github_webhook_secret: SecretStr | None = None  # verifies POST /changes/github
    host: str = "127.0.0.1"
    port: int = Field(3000, ge=0, le=65535)
    log_level: str = "INFO"
    http_read_timeout: float = Field(15.0, gt=0)  # seconds for headers, and for a webhook body
    webhook_max_concurrent: int = Field(32, ge=1)
    webhook_queue_wait: float = Field(5.0, ge=0)  # seconds a webhook beyond the cap waits
    public_url: str = ""  # where readers reach this server: shared journal links start here
    # Seconds added to the bot's clock. For tests of several `serve` processes: each replica
    # is started with the same offset, so they agree on a time near a digest window's end.
    oncall_clock_offset: float = 0.0

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None and bool(self.slack_app_token.get_secret_value())

    def secret(self, name: str) -> str:
        """The plain value of a secret setting, or '' when unset."""
        value = getattr(self, name)
        return value.get_secret_value() if value is not None else ""
