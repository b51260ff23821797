"""The deploy files agree with each other and with the Makefile, and pass their linters.

No Docker engine or Fly account is needed: hadolint and actionlint come from the dev extra,
and the rest is read from the files themselves.
"""

import json
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
MAKEFILE = REPO / "Makefile"
FLY_TOML = REPO / "fly.toml"
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))


def _linter(name: str) -> str:
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; `make install` brings it with the dev extra")
    return found


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, check=False, capture_output=True, text=True, cwd=REPO)


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw_line in DOCKERFILE.read_text().splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def _final_stage() -> list[tuple[str, str]]:
    instructions = _dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def _served_port() -> int:
    commands = [arguments for keyword, arguments in _final_stage() if keyword == "CMD"]
    command = json.loads(commands[-1])
    return int(command[command.index("--port") + 1])


def _pip_steps(shell_commands: list[str]) -> list[str]:
    """Name each `pip install` as "upgrade pip" or "install project", in order of appearance."""
    steps: list[str] = []
    for shell_command in shell_commands:
        for simple_command in shell_command.split("&&"):
            words = shlex.split(simple_command)
            if len(words) < 2 or Path(words[0]).name != "pip" or words[1] != "install":
                continue
            arguments = [word for word in words[2:] if not word.startswith("-")]
            if "--upgrade" in words and arguments == ["pip"]:
                steps.append("upgrade pip")
            elif any(argument == "." or argument.startswith(".[") for argument in arguments):
                steps.append("install project")
    return steps


def _makefile_recipe_lines() -> list[str]:
    return [line.strip() for line in MAKEFILE.read_text().splitlines() if line.startswith("\t")]


def _dockerfile_run_commands() -> list[str]:
    return [arguments for keyword, arguments in _dockerfile_instructions() if keyword == "RUN"]


def _fly_config() -> dict[str, Any]:
    with FLY_TOML.open("rb") as config_file:
        return tomllib.load(config_file)


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    result = _run([_linter("hadolint"), str(DOCKERFILE)])

    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_finds_nothing_in_the_workflows() -> None:
    assert {workflow.name for workflow in WORKFLOWS} >= {"ci.yml", "deploy.yml"}

    result = _run([_linter("actionlint"), *map(str, WORKFLOWS)])

    assert result.returncode == 0, result.stdout + result.stderr


def test_fly_release_command_migrates_the_database() -> None:
    assert _fly_config()["deploy"]["release_command"] == "ccos db migrate"


def test_fly_routes_to_the_port_the_image_serves_on() -> None:
    assert _fly_config()["http_service"]["internal_port"] == _served_port()


def test_image_exposes_the_port_it_serves_on() -> None:
    exposed = [arguments for keyword, arguments in _final_stage() if keyword == "EXPOSE"]

    assert exposed == [str(_served_port())]


def test_fly_checks_liveness_on_healthz() -> None:
    checks = _fly_config()["http_service"].get("checks", [])

    assert any(check.get("path") == "/healthz" for check in checks), checks


def test_fly_counts_concurrency_in_connections_for_sse_streams() -> None:
    concurrency = _fly_config()["http_service"]["concurrency"]

    assert concurrency["type"] == "connections"
    assert concurrency["soft_limit"] < concurrency["hard_limit"]


def test_fly_keeps_a_machine_running_for_the_scheduler() -> None:
    assert _fly_config()["http_service"]["min_machines_running"] >= 1


def test_image_runs_as_a_non_root_user() -> None:
    users = [arguments for keyword, arguments in _final_stage() if keyword == "USER"]

    assert users, "the runtime stage never switches user, so it runs as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}, users[-1]


def test_image_installs_with_the_makefile_pip_steps() -> None:
    makefile_steps = _pip_steps(_makefile_recipe_lines())
    dockerfile_steps = _pip_steps(_dockerfile_run_commands())

    assert makefile_steps == ["upgrade pip", "install project"], _makefile_recipe_lines()
    assert dockerfile_steps == makefile_steps, _dockerfile_run_commands()


def test_image_installs_the_project_non_editable() -> None:
    pip_installs = [command for command in _dockerfile_run_commands() if "pip install" in command]

    assert pip_installs
    assert all(" -e " not in f"{command} " for command in pip_installs), pip_installs


def test_every_path_the_dockerfile_copies_exists_in_the_repo() -> None:
    sources = [
        source
        for keyword, arguments in _dockerfile_instructions()
        if keyword == "COPY" and not arguments.startswith("--from=")
        for source in arguments.split()[:-1]
    ]

    missing = [source for source in sources if not (REPO / source).exists()]

    assert sources
    assert not missing, f"COPY sources missing from the build context: {missing}"
