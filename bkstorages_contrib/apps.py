"""The Django app for bkstorages' optional extras."""

from django.apps import AppConfig


class BKStoragesContribConfig(AppConfig):
    """Registers the bkstorages system checks; the management commands are found by Django."""

    name = "bkstorages_contrib"
    label = "bkstorages_contrib"
    verbose_name = "bkstorages extras"

    def ready(self) -> None:
        from bkstorages_contrib import checks

        checks.register()
