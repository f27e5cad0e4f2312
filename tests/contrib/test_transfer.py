"""The helpers behind the commands: progress display, parallel runs, local atomic writes."""

from __future__ import annotations

import io
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.core.management.base import OutputWrapper

from bkstorages_contrib.management import transfer


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    out = io.StringIO()
    progress = transfer.Progress(OutputWrapper(out), total_items=2, total_bytes=30)
    assert not progress.is_bar
    progress.item_done("uploaded a (10 B)", 10)
    progress.item_done("uploaded b (20 B)", 20)
    progress.close()
    assert out.getvalue() == "[1/2] uploaded a (10 B)\n[2/2] uploaded b (20 B)\n"


def test_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tqdm")
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    out = io.StringIO()
    progress = transfer.Progress(OutputWrapper(out), total_items=2, total_bytes=2048, description="upload")
    assert progress.is_bar
    progress.item_done("uploaded a", 1024)
    progress.message("FAILED b: boom")
    progress.item_done("uploaded b", 1024)
    progress.close()
    assert out.getvalue() == ""  # no per-file lines next to a bar
    shown = terminal.getvalue()
    assert "upload" in shown
    assert "2.00k" in shown or "2.0k" in shown
    assert "FAILED b: boom" in shown


def test_plain_lines_on_a_terminal_without_tqdm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", FakeTerminal())
    monkeypatch.setitem(sys.modules, "tqdm", None)  # makes "from tqdm import tqdm" fail
    out = io.StringIO()
    progress = transfer.Progress(OutputWrapper(out), total_items=1)
    assert not progress.is_bar
    progress.item_done("deleted x")
    assert out.getvalue() == "[1/1] deleted x\n"


def test_bar_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", FakeTerminal())
    assert not transfer.Progress(OutputWrapper(io.StringIO()), total_items=1, enabled=False).is_bar


def test_run_parallel_uses_several_threads_and_reports_errors() -> None:
    seen_threads: set[str] = set()
    barrier = threading.Barrier(3, timeout=5)

    def work(number: int) -> int:
        seen_threads.add(threading.current_thread().name)
        if number < 3:
            barrier.wait()  # only passes if three items run at the same time
        if number == 5:
            raise ValueError("five")
        return number * 2

    results = {item: (result, error) for item, result, error in transfer.run_parallel(work, range(8), workers=3)}
    assert len(seen_threads) == 3
    assert results[4] == (8, None)
    assert isinstance(results[5][1], ValueError)
    assert sorted(results) == list(range(8))


def test_run_parallel_with_nothing_to_do() -> None:
    assert list(transfer.run_parallel(str, [], workers=4)) == []


def test_atomic_local_write_leaves_nothing_behind_on_error(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "file.bin"

    def broken() -> Iterator[bytes]:
        yield b"half"
        raise ConnectionError("cut")

    with pytest.raises(ConnectionError):
        transfer.atomic_local_write(str(target), broken())
    assert os.listdir(tmp_path / "sub") == []

    printed = transfer.atomic_local_write(str(target), iter([b"ab", b"c"]))
    assert target.read_bytes() == b"abc"
    assert printed == transfer.Fingerprint(3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


def test_fingerprint_of_a_storage_without_stat(tmp_path: Path) -> None:
    storage = FileSystemStorage(location=str(tmp_path))
    storage.save("x.txt", ContentFile(b"abc"))
    assert transfer.storage_fingerprint(storage, "x.txt").sha256.startswith("ba7816bf")
    with pytest.raises(FileNotFoundError):
        transfer.storage_fingerprint(storage, "missing.txt")


def test_walk_storage(tmp_path: Path) -> None:
    storage = FileSystemStorage(location=str(tmp_path))
    for name in ("b.txt", "a/1.txt", "a/z/2.txt", "c/3.txt"):
        storage.save(name, ContentFile(b"x"))
    assert list(transfer.walk_storage(storage, "")) == ["b.txt", "a/1.txt", "a/z/2.txt", "c/3.txt"]
    assert list(transfer.walk_storage(storage, "/a/")) == ["1.txt", "z/2.txt"]
    assert list(transfer.walk_storage(storage, "nope")) == []
