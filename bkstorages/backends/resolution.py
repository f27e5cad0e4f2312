"""Options resolved lazily: at a storage's first use, and again after Django's ``setting_changed``.

A storage declares each attribute that comes from its options as a
:class:`resolved` descriptor (``location = resolved[str]()``). Reading one
resolves every option at once (see :mod:`bkstorages.conf`) into a
:class:`ResolvedOptions`; a change of a ``BKREPO_*`` setting forgets them in
every live storage, so ``override_settings`` reaches per-field instances too
(the way Django's ``FileSystemStorage`` behaves). This module is
store-agnostic: what the attributes are is up to the storage class.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from django.core.signals import setting_changed

from bkstorages import conf

__all__ = ["LazyOptionsMixin", "ResolvedOptions", "reset_all_options", "resolved"]

T = TypeVar("T")


class resolved(Generic[T]):
    """A public storage attribute read from the resolved options (resolving them at first use).

    Reading one costs a descriptor call; the hot paths read
    ``self._resolved`` (a plain instance attribute) instead. The type
    parameter is the attribute's type for type checkers.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> Any: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> T: ...

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            # A subclass's class attribute (``location = "static"``) is configuration, kept here.
            return getattr(owner, "_class_values", {}).get(self.name, self)
        return getattr(instance._resolved or instance._resolve(), self.name)

    def __set__(self, instance: Any, value: Any) -> None:
        raise AttributeError(f"'{self.name}' comes from the storage's options; pass it to the constructor")


class ResolvedOptions:
    """The attributes a storage built from its resolved options (its client among them)."""

    def __init__(self, attributes: dict[str, Any]) -> None:
        for name, value in attributes.items():
            # setattr, not __dict__.update(): CPython keeps the values inline (the fastest reads).
            setattr(self, name, value)

    if TYPE_CHECKING:  # the attributes differ by storage class

        def __getattr__(self, name: str) -> Any: ...


# Every storage alive, so a change of a BKREPO_* setting reaches them all (per-field instances too).
_storages: weakref.WeakSet[LazyOptionsMixin] = weakref.WeakSet()


def reset_all_options() -> None:
    """Every storage alive (per-field ones too) resolves its options again: after BKREPO_* settings or env change."""
    for storage in list(_storages):
        storage.reset_options()


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if conf.affects_storages(setting):
        reset_all_options()


setting_changed.connect(_on_setting_changed, dispatch_uid="bkstorages.backends.base.setting_changed")


class LazyOptionsMixin:
    """Resolves a storage's options at first use and forgets them when a setting changes.

    A subclass implements ``_resolve_attributes_now()``, returning the value of
    every ``resolved`` attribute, and calls ``_init_options()`` when it is
    built (and unpickled).
    """

    # Plain class attributes of subclasses that shadow a resolved attribute (configuration).
    _class_values: dict[str, Any] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        class_values = dict(cls._class_values)
        for name, value in list(vars(cls).items()):
            if isinstance(value, resolved):
                continue
            inherited = next((vars(base)[name] for base in cls.__mro__[1:] if name in vars(base)), None)
            if isinstance(inherited, resolved):
                # ``location = "static"`` on a subclass: keep the value as configuration (a class
                # attribute in the order of precedence) and the attribute resolved, so every read
                # goes through the resolution (which cleans and checks it).
                class_values[name] = value
                setattr(cls, name, inherited)
        cls._class_values = class_values

    def _init_options(self) -> None:
        """Start unresolved, and be reset with every other live storage after ``setting_changed``."""
        self._resolved: ResolvedOptions | None = None
        self._resolve_lock = threading.RLock()
        _storages.add(self)

    def _resolve(self) -> ResolvedOptions:
        """The resolved options, resolving them if they are not (or no longer) resolved.

        Hot paths read ``self._resolved or self._resolve()``: after the first
        use that is one plain attribute read.
        """
        with self._resolve_lock:
            resolved_options = self._resolved
            if resolved_options is None:
                resolved_options = self._resolved = ResolvedOptions(self._resolve_attributes_now())
            return resolved_options

    def reset_options(self) -> None:
        """Forget the resolved options (and the client built from them); the next use resolves again."""
        with self._resolve_lock:
            self._resolved = None

    @property
    def options_resolved(self) -> bool:
        """Whether the options are resolved (they are at first use)."""
        return self._resolved is not None

    def _resolve_attributes_now(self) -> dict[str, Any]:
        """Resolve the options (raising ImproperlyConfigured) and return every resolved attribute."""
        raise NotImplementedError
