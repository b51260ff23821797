import re

from functions._shared.settings import Settings
from tests.conftest import REPO_ROOT

DOCUMENTED = re.compile(r"^#?\s?([A-Z][A-Z0-9_]+)=", re.MULTILINE)


def test_every_setting_is_documented_in_env_example() -> None:
    documented = set(DOCUMENTED.findall((REPO_ROOT / ".env.example").read_text()))
    settings = {name.upper() for name in Settings.model_fields}

    assert settings - documented == set(), "settings missing from .env.example"
    assert documented - settings == set(), ".env.example names settings that do not exist"
