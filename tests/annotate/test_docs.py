"""The README documents every environment variable the code reads."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
READS = re.compile(r"\b(?:env|env_bool|env_int|env_list|_service_url)\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']")
OS_READS = re.compile(r"os\.environ(?:\.get)?[\(\[]\s*[\"']([A-Z][A-Z0-9_]*)[\"']")


def _names() -> set[str]:
    names = set(READS.findall((REPO / "annotate" / "settings.py").read_text()))
    for module in ("celery.py", "devrun.py", "embedded.py", "gunicorn_conf.py", "metrics.py"):
        names |= set(OS_READS.findall((REPO / "annotate" / module).read_text()))
    return names - {"DJANGO_SETTINGS_MODULE", "XDG_RUNTIME_DIR"}


def test_every_environment_variable_is_in_the_readme():
    readme = (REPO / "README.md").read_text()
    names = _names()
    assert {"DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY", "PORT"} <= names
    missing = sorted(n for n in names if f"`{n}`" not in readme)
    assert missing == []


def test_readme_opens_with_the_two_commands():
    readme = (REPO / "README.md").read_text()
    first_block = readme.split("```")[1]
    assert "make run" in first_block and "make test" in first_block
