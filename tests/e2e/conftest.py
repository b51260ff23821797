"""End-to-end tests may use the chat tests' database with the sample KB."""

# Imported names in a conftest are fixtures here too.
from tests.chat.conftest import (
    chat_database_url,  # noqa: F401
    chat_settings,  # noqa: F401
    chat_sql,  # noqa: F401
)
