"""The storages the sandbox's models use, looked up by name in ``settings.STORAGES``.

A field such as ``ImageField(storage=BKRepoPublicStorage())`` builds its
storage when the model class is imported, so the storage reads its settings
at that moment. That is fine in a real project. The sandbox wants one more
thing: its tests point the site at a fresh bk-repo bucket per test with
``override_settings``. So the fields get a ``storage=`` callable that returns
a :class:`NamedStorage`, which asks Django's ``storages`` registry for the
real storage (``BKRepoPublicStorage`` and friends, configured in
``STORAGES``) each time it is used. Migrations record only the callable's
import path: no bucket names, no passwords.
"""

from typing import Any

from django.core.files.storage import Storage, storages


class NamedStorage(Storage):
    """Forwards every public method to ``django.core.files.storage.storages[alias]``."""

    def __init__(self, alias: str) -> None:
        self.alias = alias

    @property
    def backend(self) -> Storage:
        """The real storage configured as ``STORAGES[alias]``."""
        return storages[self.alias]

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("_") or name in ("alias", "backend"):
            return super().__getattribute__(name)
        return getattr(storages[super().__getattribute__("alias")], name)

    def __repr__(self) -> str:
        return f"<NamedStorage {self.alias!r}>"


PUBLIC = NamedStorage("public")
PRIVATE = NamedStorage("private")


def public_storage() -> Storage:
    """``STORAGES["public"]``: a ``BKRepoPublicStorage`` (permanent links)."""
    return PUBLIC


def private_storage() -> Storage:
    """``STORAGES["private"]``: a ``BKRepoPrivateStorage`` (temporary links)."""
    return PRIVATE
