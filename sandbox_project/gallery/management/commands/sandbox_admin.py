"""Create (or update) the sandbox's demo admin user and say how to log in."""

import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = (
        "Create the demo admin user. The name and password come from SANDBOX_ADMIN_USER and "
        "SANDBOX_ADMIN_PASSWORD; without a password one is generated once and kept in the data directory."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/admin/", help="Where the admin is served.")

    def handle(self, *args: Any, **options: Any) -> None:
        username = os.environ.get("SANDBOX_ADMIN_USER") or "admin"
        password = os.environ.get("SANDBOX_ADMIN_PASSWORD")
        password_file = Path(settings.DATA_DIR) / "admin-password.txt"
        if password:
            where = "the password from SANDBOX_ADMIN_PASSWORD"
        elif password_file.exists():
            password = password_file.read_text(encoding="utf-8").strip()
            where = f"password {password} (kept in {password_file})"
        else:
            password = secrets.token_urlsafe(9)
            password_file.parent.mkdir(parents=True, exist_ok=True)
            password_file.write_text(password + "\n", encoding="utf-8")
            password_file.chmod(0o600)
            where = f"password {password} (kept in {password_file})"

        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(username=username)
        user.is_staff = True
        user.is_superuser = True
        if created or not user.check_password(password):
            user.set_password(password)
        user.save()
        verb = "Created" if created else "Using"
        self.stdout.write(f"{verb} the admin user. Log in at {options['url']} as {username!r} with {where}.")
