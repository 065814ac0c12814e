"""The production set-up: `check --deploy` is clean, and docker-compose.yml is a valid Compose file."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .services import require

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "p" * 20 + "roduction-secret-key-with-enough-entropy-0123456789",
    "ALLOWED_HOSTS": "identityhub.example.com",
    "FIELD_ENCRYPTION_KEY": "8oF2yDb1Jd7k1mG0cQzWw6Y3oq3eQm2oW0s7m0pQ9yA=",
    "SECURE_SSL_REDIRECT": "true",
    "STATIC_MANIFEST": "true",
}


def _manage(*args, env):
    # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in this process; production never has it.
    dropped = {*PRODUCTION_ENV, "DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {k: v for k, v in os.environ.items() if k not in dropped}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True
    )


def test_check_deploy_is_clean_with_production_values():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_secrets():
    env = dict(PRODUCTION_ENV, SECRET_KEY="", FIELD_ENCRYPTION_KEY="")
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def _compose(tmp_path, text):
    (tmp_path / "docker-compose.yml").write_text(text)
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    shutil.copy(ROOT / "Dockerfile", tmp_path / "Dockerfile")
    return subprocess.run(
        ["docker-compose", "-f", "docker-compose.yml", "config", "--services"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )


def test_compose_file_is_valid_and_runs_every_service(tmp_path):
    require(shutil.which("docker-compose") is not None, "docker-compose is not installed (make lab-deps)")
    result = _compose(tmp_path, (ROOT / "docker-compose.yml").read_text())
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) >= {"postgres", "redis", "web", "worker", "beat"}


def test_compose_validation_catches_a_broken_file(tmp_path):
    require(shutil.which("docker-compose") is not None, "docker-compose is not installed (make lab-deps)")
    broken = (ROOT / "docker-compose.yml").read_text().replace("restart: unless-stopped", "restart: [1, 2]", 1)
    assert _compose(tmp_path, broken).returncode != 0
