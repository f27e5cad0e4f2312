"""Storage backends: ``bkstorages.backends.bkrepo`` for bk-repo."""
