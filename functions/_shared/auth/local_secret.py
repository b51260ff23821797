"""Secrets the embedded mode generates once into the data folder (signing keys for tokens and
for callbacks), so that every process of one checkout shares them."""

import os
import secrets
from pathlib import Path

SECRET_FILE_NAME = "jwt-secret"  # noqa: S105 (a file name, not a secret)


def load_or_create_secret(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate = secrets.token_urlsafe(48)
    try:
        # O_EXCL: when two processes start at once, exactly one writes and both read its secret.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(descriptor, "w") as secret_file:
        secret_file.write(candidate)
    return candidate


def load_or_create_local_secret(data_dir: Path) -> str:
    return load_or_create_secret(data_dir / SECRET_FILE_NAME)
