"""Optional extras for bkstorages: a bk-repo dev server, test fixtures,
static-files storages, management commands and system checks."""
