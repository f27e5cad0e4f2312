"""The dev server's store on its own: schema upgrades and query plans."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bkstorages_contrib.devserver.store import Store


def _indexes(data_dir: Path) -> set[str]:
    with sqlite3.connect(data_dir / "meta.sqlite3") as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}


def test_data_dir_made_before_the_sorted_index_gets_it(tmp_path: Path) -> None:
    Store(tmp_path)
    with sqlite3.connect(tmp_path / "meta.sqlite3") as db:  # the layout of older data dirs
        db.execute("DROP INDEX nodes_parent_sorted")
        db.execute("CREATE INDEX nodes_parent ON nodes (project, repo, parent)")
    assert "nodes_parent_sorted" not in _indexes(tmp_path)

    Store(tmp_path)

    indexes = _indexes(tmp_path)
    assert "nodes_parent_sorted" in indexes
    assert "nodes_parent" not in indexes


def test_sorted_node_page_reads_the_index_in_order(tmp_path: Path) -> None:
    store = Store(tmp_path)
    db = store._db()
    statements: list[str] = []
    db.set_trace_callback(statements.append)  # with the bound values filled in
    for include_folder in (True, False):  # the orders the app asks for with sort=true
        order = [("folder", False), ("full_path", True)] if include_folder else [("full_path", True)]
        store.list_nodes("p", "r", "/", deep=False, include_folder=include_folder, offset=10, limit=10, order=order)
    db.set_trace_callback(None)
    pages = [sql for sql in statements if sql.startswith("SELECT * FROM nodes")]
    assert len(pages) == 2
    for sql in pages:
        plan = " | ".join(str(row[3]) for row in db.execute("EXPLAIN QUERY PLAN " + sql))
        assert "nodes_parent_sorted" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
