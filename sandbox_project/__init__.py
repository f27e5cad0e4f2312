"""The bkstorages sandbox: a small Django site that keeps every file in bk-repo.

Run it with ``make sandbox``. The settings live in ``sandbox_project.settings``
and the one app in ``sandbox_project.gallery``.
"""
