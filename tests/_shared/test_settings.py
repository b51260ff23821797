import pytest
from pydantic import ValidationError

from functions._shared.settings import AppMode, Settings


def make(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_production_without_database_url_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)

    with pytest.raises(ValidationError, match="DATABASE_URL is required"):
        make(app_mode=AppMode.PRODUCTION, supabase_jwt_secret="s" * 40)


def test_production_without_any_jwt_verification_names_both_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SUPABASE_URL", raising=False)

    with pytest.raises(ValidationError, match="SUPABASE_JWT_SECRET or SUPABASE_URL"):
        make(app_mode=AppMode.PRODUCTION, database_url="postgresql://db.example/postgres")


def test_production_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_MODE", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://db.example/postgres")
    monkeypatch.setenv("SUPABASE_URL", "https://ref.supabase.co/")
    monkeypatch.setenv("DATABASE_PREPARED_STATEMENTS", "false")

    settings = make()

    assert settings.app_mode is AppMode.PRODUCTION
    assert settings.database_prepared_statements is False
    assert settings.jwks_url == "https://ref.supabase.co/auth/v1/.well-known/jwks.json"


def test_embedded_mode_needs_no_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("APP_MODE", "DATABASE_URL", "SUPABASE_URL", "SUPABASE_JWT_SECRET"):
        monkeypatch.delenv(name, raising=False)

    settings = make()

    assert settings.is_embedded
    assert settings.database_url is None


def test_pool_minimum_above_maximum_is_refused() -> None:
    with pytest.raises(ValidationError, match="DATABASE_POOL_MIN_SIZE"):
        make(database_pool_min_size=20, database_pool_max_size=5)
