"""Shared pytest configuration.

The dev-server fixtures (``bkrepo_server``, ``bkrepo_repos``,
``bkrepo_settings``) come from the ``bkstorages_contrib.testing`` plugin,
which pytest loads through the package's ``pytest11`` entry point.
"""
