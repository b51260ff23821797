"""The embedded mode's HS256 signing secret, generated once into the data folder."""

import os
import secrets
from pathlib import Path

SECRET_FILE_NAME = "jwt-secret"  # noqa: S105 (a file name, not a secret)


def load_or_create_local_secret(data_dir: Path) -> str:
    path = data_dir / SECRET_FILE_NAME
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    candidate = secrets.token_urlsafe(48)
    try:
        # O_EXCL: when two processes start at once, exactly one writes and both read its secret.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(descriptor, "w") as secret_file:
        secret_file.write(candidate)
    return candidate
