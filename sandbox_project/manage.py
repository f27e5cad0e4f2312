#!/usr/bin/env python
"""Django's command-line utility for the sandbox site (``make sandbox`` calls it for you)."""

import os
import sys
from pathlib import Path


def main() -> None:
    # The site is the package ``sandbox_project``: make its parent importable.
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox_project.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
