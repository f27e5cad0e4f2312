"""Django file storage backends for BlueKing bk-repo."""

__version__ = "4.0.0"
