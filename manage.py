#!/usr/bin/env python
import os
import sys

# Commands that never touch PostgreSQL or Redis: they must not start the embedded servers
# (and leave them running). healthcheck reports on the servers; it must not start them either.
NO_SERVICES = {"help", "version", "check", "collectstatic", "makemigrations", "diffsettings", "spectacular",
               "healthcheck", "compilemessages", "makemessages", "startapp", "startproject"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotate.settings")
    from annotate import embedded

    command = sys.argv[1] if len(sys.argv) > 1 else "help"
    if command in NO_SERVICES or command.startswith("-"):
        embedded.defer_start()
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    finally:
        # Servers this command started (none when `make run` or DATABASE_URL/REDIS_URL provide
        # them) stop with it; their data stays under APP_DATA_DIR.
        embedded.stop_started_here()


if __name__ == "__main__":
    main()
