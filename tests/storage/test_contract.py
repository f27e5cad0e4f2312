"""Django's storage contract, run against every storage class over real HTTP."""

from __future__ import annotations

import datetime
import io
import os
import tempfile
from collections.abc import Callable
from typing import Any

import pytest
import requests
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile, File
from django.core.files.uploadedfile import InMemoryUploadedFile, SimpleUploadedFile, TemporaryUploadedFile
from django.test import override_settings

from bkstorages.backends.bkrepo import BKRepoStorage
from tests.faultproxy import FaultProxy
from tests.storage.conftest import PUBLIC

SPECIAL_NAMES = [
    "dir/with space.txt",
    "dir/hash#tag.txt",
    "dir/question?mark.txt",
    "dir/per%cent.txt",
    "dir/plus+sign.txt",
    "dir/unicodé 文件.txt",
    "dir/semi;colon&amp=eq.txt",
]


def read(storage: BKRepoStorage, name: str) -> bytes:
    with storage.open(name, "rb") as fh:
        data: bytes = fh.read()
    return data


# -- save and read back ---------------------------------------------------------


def test_save_returns_the_name_and_the_bytes_read_back(storage: BKRepoStorage) -> None:
    assert storage.save("a/b.txt", ContentFile(b"x")) == "a/b.txt"
    assert storage.exists("a/b.txt") is True
    assert storage.size("a/b.txt") == 1
    assert isinstance(storage.size("a/b.txt"), int)
    assert read(storage, "a/b.txt") == b"x"


def test_a_leading_slash_is_the_bucket_root(storage: BKRepoStorage) -> None:
    assert storage.save("/test/hello", ContentFile(b"Hello, RGW!")) == "test/hello"
    assert read(storage, "/test/hello") == b"Hello, RGW!"
    assert read(storage, "test/hello") == b"Hello, RGW!"
    assert storage.listdir("/test") == ([], ["hello"])


def test_text_content_is_stored_as_utf8(storage: BKRepoStorage) -> None:
    name = storage.save("text.txt", ContentFile("é中"))
    assert read(storage, name) == "é中".encode()
    assert storage.size(name) == len("é中".encode())


def test_content_already_read_is_rewound_and_left_open(storage: BKRepoStorage) -> None:
    content = ContentFile(b"all of it", name="x")
    assert content.read() == b"all of it"  # at EOF now, as after a validator
    name = storage.save("rewound.txt", content)
    assert read(storage, name) == b"all of it"
    assert not content.closed
    content.seek(0)
    assert content.read() == b"all of it"


def test_empty_files(storage: BKRepoStorage) -> None:
    name = storage.save("empty.txt", ContentFile(b""))
    assert storage.exists(name)
    assert storage.size(name) == 0
    assert read(storage, name) == b""


def test_every_kind_of_django_file(storage: BKRepoStorage, tmp_path: Any) -> None:
    data = os.urandom(70_000)
    memory = InMemoryUploadedFile(io.BytesIO(data), "field", "mem.bin", "application/octet-stream", len(data), None)
    temporary = TemporaryUploadedFile("tmp.bin", "application/octet-stream", len(data), None)
    temporary.write(data)
    temporary.seek(0)
    simple = SimpleUploadedFile("simple.bin", data)
    path = tmp_path / "plain.bin"
    path.write_bytes(data)
    with open(path, "rb") as fh:
        for name, content in [
            ("kinds/mem.bin", memory),
            ("kinds/tmp.bin", temporary),
            ("kinds/simple.bin", simple),
            ("kinds/file.bin", File(fh)),
        ]:
            assert storage.save(name, content) == name
            assert read(storage, name) == data
            assert not content.closed
    temporary.close()


def test_the_user_docs_temporary_file_example(storage: BKRepoStorage) -> None:
    with tempfile.NamedTemporaryFile() as fp:
        fp.write(b"Temp file")
        fp.flush()
        assert storage.save("/test/temp_file.txt", File(fp)) == "test/temp_file.txt"
    assert read(storage, "test/temp_file.txt") == b"Temp file"


class OneWayStream(io.RawIOBase):
    """A readable stream that cannot seek (a pipe, a socket, a generator)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_content_that_cannot_seek(storage: BKRepoStorage) -> None:
    data = os.urandom(300_000)
    name = storage.save("stream.bin", File(OneWayStream(data), name="stream.bin"))
    assert read(storage, name) == data


# -- overwrite policy -------------------------------------------------------------


def test_overwrite_is_on_by_default_and_replaces_everything(storage: BKRepoStorage) -> None:
    assert storage.file_overwrite is True
    assert storage.save("same.txt", ContentFile(b"a long first version")) == "same.txt"
    assert storage.save("same.txt", ContentFile(b"short")) == "same.txt"
    assert read(storage, "same.txt") == b"short"
    assert storage.exists("same.txt") is True
    assert storage.listdir("") == ([], ["same.txt"])


def test_with_overwrite_off_a_second_save_gets_a_new_name(make_storage: Callable[..., BKRepoStorage]) -> None:
    storage = make_storage(file_overwrite=False)
    first = storage.save("docs/report.pdf", ContentFile(b"one"))
    second = storage.save("docs/report.pdf", ContentFile(b"two"))
    assert first == "docs/report.pdf"
    assert second != first
    assert second.startswith("docs/report_")
    assert second.endswith(".pdf")
    assert read(storage, first) == b"one"
    assert read(storage, second) == b"two"
    assert storage.exists(first) is True


def test_max_length_is_respected(make_storage: Callable[..., BKRepoStorage]) -> None:
    for overwrite in (True, False):
        storage = make_storage(file_overwrite=overwrite)
        long_name = "d/" + "n" * 40 + ".txt"
        name = storage.save(long_name, ContentFile(b"1"), max_length=20)
        assert len(name) <= 20
        again = storage.save(long_name, ContentFile(b"2"), max_length=20)
        assert len(again) <= 20
        assert (again == name) is overwrite
        with pytest.raises(SuspiciousFileOperation):
            storage.save("d/" + "x" * 30 + ".txt", ContentFile(b"3"), max_length=5)


def test_the_location_prefix_is_applied_once_and_never_returned(make_storage: Callable[..., BKRepoStorage]) -> None:
    storage = make_storage(location="media/uploads")
    plain = make_storage()
    assert storage.save("a/b.txt", ContentFile(b"x")) == "a/b.txt"
    assert storage.listdir("") == (["a"], [])
    assert storage.listdir("a") == ([], ["b.txt"])
    assert plain.exists("media/uploads/a/b.txt")
    assert plain.listdir("") == (["media"], [])
    assert storage.location == "media/uploads"
    assert storage.root_path == "media/uploads"


# -- names ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", SPECIAL_NAMES)
def test_special_characters_round_trip(storage: BKRepoStorage, storage_class: type, name: str) -> None:
    assert storage.save(name, ContentFile(name.encode())) == name
    assert storage.exists(name)
    assert read(storage, name) == name.encode()
    assert storage.listdir("dir")[1] == [name.split("/", 1)[1]]
    url = storage.url(name)
    assert " " not in url
    assert "#" not in url
    assert url.isascii()
    # Browsers and bk-repo see exactly the name (anonymous: no credentials).
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, response.text
    assert response.content == name.encode()
    storage.delete(name)
    assert not storage.exists(name)


BAD_NAMES = ["../x", "a/../../x", "a\\..\\..\\x", "C:/x", "c:\\x", "a\x00b", "a\nb", "tab\tname", "del\x7f"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_are_refused_before_any_request(
    counting: Callable[..., tuple[BKRepoStorage, FaultProxy]], name: str
) -> None:
    storage, proxy = counting()
    calls: list[Callable[[], Any]] = [
        lambda: storage.save(name, ContentFile(b"x")),
        lambda: storage._save(name, ContentFile(b"x")),
        lambda: storage.open(name).read(),
        lambda: storage.open(name, "wb"),
        lambda: storage.exists(name),
        lambda: storage.delete(name),
        lambda: storage.size(name),
        lambda: storage.url(name),
        lambda: storage.listdir(name),
        lambda: storage.get_modified_time(name),
        lambda: storage.stat(name),
    ]
    for call in calls:
        with pytest.raises(SuspiciousFileOperation):
            call()
    assert proxy.count() == 0


def test_empty_names_are_refused_where_a_file_is_needed(storage: BKRepoStorage) -> None:
    for name in ("", "/", "//", "./"):
        with pytest.raises(SuspiciousFileOperation):
            storage.save(name, ContentFile(b"x"))
        with pytest.raises(SuspiciousFileOperation):
            storage.open(name)
    with pytest.raises(ValueError, match="name must be given"):
        storage.delete("")
    assert storage.exists("") is True
    assert storage.listdir("/") == ([], [])


def test_generate_filename_uses_forward_slashes(storage: BKRepoStorage) -> None:
    assert storage.generate_filename("dir\\sub\\f name.txt") == "dir/sub/f_name.txt"
    with pytest.raises(SuspiciousFileOperation):
        storage.generate_filename("../escape.txt")


# -- missing objects and errors ------------------------------------------------------


def test_missing_objects(storage: BKRepoStorage) -> None:
    assert storage.exists("missing.txt") is False
    assert storage.delete("missing.txt") is None
    with pytest.raises(FileNotFoundError):
        read(storage, "missing.txt")
    with pytest.raises(FileNotFoundError):
        storage.size("missing.txt")
    with pytest.raises(FileNotFoundError):
        storage.get_modified_time("missing.txt")
    with pytest.raises(FileNotFoundError):
        storage.stat("missing.txt")
    assert storage.listdir("missing-dir") == ([], [])


def test_path_is_not_available(storage: BKRepoStorage) -> None:
    with pytest.raises(NotImplementedError):
        storage.path("a.txt")


# -- listing -----------------------------------------------------------------------


def test_listdir_one_level_sorted_with_bare_names(storage: BKRepoStorage) -> None:
    for name in ["d/b.txt", "d/a.txt", "d/sub/deep.txt", "d/sub2/x/y.txt", "top.txt"]:
        storage.save(name, ContentFile(b"."))
    expected = (["sub", "sub2"], ["a.txt", "b.txt"])
    assert storage.listdir("d") == expected
    assert storage.listdir("d/") == expected
    assert storage.listdir("/d") == expected
    assert storage.listdir("") == (["d"], ["top.txt"])
    assert storage.listdir("d/sub") == ([], ["deep.txt"])
    assert storage.exists("d") is True
    assert storage.exists("d/sub2/x") is True


def test_listdir_pages_through_everything(make_storage: Callable[..., BKRepoStorage]) -> None:
    storage = make_storage(list_page_size=7)
    names = [f"many/f{i:03d}.txt" for i in range(30)] + [f"many/dir{i}/x" for i in range(3)]
    for name in names:
        storage.save(name, ContentFile(b""))
    directories, files = storage.listdir("many")
    assert directories == ["dir0", "dir1", "dir2"]
    assert files == sorted(f"f{i:03d}.txt" for i in range(30))


# -- times --------------------------------------------------------------------------


def test_times_follow_use_tz(storage: BKRepoStorage) -> None:
    before = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)
    name = storage.save("timed.txt", ContentFile(b"t"))
    after = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=5)
    with override_settings(USE_TZ=True):
        modified = storage.get_modified_time(name)
        created = storage.get_created_time(name)
        assert modified.tzinfo is not None
        assert modified.utcoffset() == datetime.timedelta(0)
        assert before <= modified <= after
        assert before <= created <= after
    with override_settings(USE_TZ=False, TIME_ZONE="Asia/Shanghai"):
        naive = storage.get_modified_time(name)
        assert naive.tzinfo is None
        expected = modified.astimezone(datetime.timezone(datetime.timedelta(hours=8))).replace(tzinfo=None)
        assert naive == expected


def test_stat_answers_in_one_request(counting: Callable[..., tuple[BKRepoStorage, FaultProxy]]) -> None:
    storage, proxy = counting()
    storage.save("stat/me.txt", ContentFile(b"12345"))
    proxy.reset_counts()
    info = storage.stat("/stat/me.txt")
    assert proxy.count() == 1
    assert info.name == "stat/me.txt"
    assert info.size == 5
    assert info.sha256 == "5994471abb01112afcc18159f6cc74b4f511b99806da59b3caf5a9c173cacfc5"
    assert info.md5 == "827ccb0eea8a706c4c34a16891f84e7b"
    assert info.is_dir is False
    assert info.modified_time is not None
    assert storage.stat("stat").is_dir is True


# -- URLs ---------------------------------------------------------------------------


def test_url_downloads_the_file_without_credentials(storage: BKRepoStorage, storage_class: type) -> None:
    name = storage.save("u/file.txt", ContentFile(b"via url"))
    url = storage.url(name)
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == b"via url"
    if PUBLIC[storage_class]:
        assert "token=" not in url
    else:
        assert "token=" in url


def test_urls_cost_no_request_once_known(
    counting: Callable[..., tuple[BKRepoStorage, FaultProxy]], storage_class: type
) -> None:
    storage, proxy = counting()
    if PUBLIC[storage_class]:
        urls = [storage.url(f"img/{i}.png") for i in range(50)]
        assert proxy.count() == 0
        assert urls[0] == f"{proxy.url}/generic/{storage.project}/{storage.bucket}/img/0.png"
    else:
        storage.url("img/0.png")
        proxy.reset_counts()
        for _ in range(50):
            storage.url("img/0.png")
        assert proxy.count() == 0


def test_private_urls_are_signed_once_and_cached(
    counting: Callable[..., tuple[BKRepoStorage, FaultProxy]], storage_class: type
) -> None:
    storage, proxy = counting()
    if PUBLIC[storage_class]:
        assert storage.url("x.txt") == storage.url("x.txt")
        return
    storage.save("x.txt", ContentFile(b"x"))
    proxy.reset_counts()
    first = storage.url("x.txt")
    assert storage.url("x.txt") == first
    assert storage.url("/x.txt") == first
    assert proxy.count("POST", "/generic/temporary/url/create") == 1
    urls = storage.urls([f"many/{i}.txt" for i in range(20)] + ["x.txt"])
    assert proxy.count("POST", "/generic/temporary/url/create") == 2
    assert len(set(urls.values())) == 21
    assert urls["x.txt"] == first


def test_bkrepo_storage_asks_once_whether_its_bucket_is_public(bkrepo_settings: Any, proxy: FaultProxy) -> None:
    storage = BKRepoStorage(endpoint_url=proxy.url, bucket=bkrepo_settings.public)
    assert proxy.count() == 0  # nothing in __init__
    storage.url("a.txt")
    storage.url("b.txt")
    assert proxy.count("GET", "/repository/api/repo/info/") == 1
    assert proxy.count() == 1
    explicit = BKRepoStorage(endpoint_url=proxy.url, public=False)
    proxy.reset_counts()
    assert "token=" in explicit.url("a.txt")
    assert proxy.count("GET", "/repository/api/repo/info/") == 0


def test_url_preview_and_a_custom_public_domain(bkrepo_settings: Any) -> None:
    from bkstorages.backends.bkrepo import BKRepoPublicStorage

    storage = BKRepoPublicStorage(public_base_url="https://cdn.example.com/files/", url_preview=True)
    assert storage.url("a b.png") == "https://cdn.example.com/files/a%20b.png?preview=true"


def test_signed_urls_expire(make_storage: Callable[..., BKRepoStorage], storage_class: type) -> None:
    if PUBLIC[storage_class]:
        return
    storage = make_storage(url_expire_seconds=1)
    storage.save("short.txt", ContentFile(b"soon gone"))
    url = storage.url("short.txt")
    assert requests.get(url, timeout=10).content == b"soon gone"
    import time

    time.sleep(1.2)
    assert requests.get(url, timeout=10).status_code == 400  # 251022 token expired
    fresh = storage.url("short.txt")
    assert fresh != url  # a 1 s URL is never served from the cache
    assert requests.get(fresh, timeout=10).content == b"soon gone"


def test_url_cache_shared_through_a_django_cache(
    make_storage: Callable[..., BKRepoStorage], storage_class: type
) -> None:
    if PUBLIC[storage_class]:
        return
    caches = {"urls": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "bkstorages-urls"}}
    with override_settings(CACHES=caches):
        one = make_storage(url_cache_alias="urls")
        two = make_storage(url_cache_alias="urls")
        assert one.url("shared.txt") == two.url("shared.txt")


def test_an_expiry_per_call(counting: Callable[..., tuple[BKRepoStorage, FaultProxy]], storage_class: type) -> None:
    storage, proxy = counting()
    storage.save("e.txt", ContentFile(b"e"))
    proxy.reset_counts()
    default, short = storage.url("e.txt"), storage.url("e.txt", expire=120)
    if PUBLIC[storage_class]:
        assert default == short  # permanent links have no expiry
        assert proxy.count() == 0
    else:
        assert default != short  # separately signed, separately cached
        assert storage.url("e.txt", expire=120) == short
        assert proxy.count("POST") == 2
        assert requests.get(short, timeout=10).content == b"e"
        with pytest.raises(ValueError, match="positive"):
            storage.url("e.txt", expire=0)


@pytest.mark.parametrize("size", [10, 3 * 1024 * 1024], ids=["plain", "block"])
def test_a_writer_that_takes_the_name_first_is_never_replaced(
    counting: Callable[..., tuple[BKRepoStorage, FaultProxy]], size: int
) -> None:
    storage, proxy = counting(file_overwrite=False, block_upload_threshold=1024 * 1024, block_size=512 * 1024)
    other = BKRepoStorage(bucket=storage.bucket)  # straight to the server, not through the proxy
    ours = os.urandom(size)
    # The name is free when our upload sets off; another writer takes it before the upload arrives.
    proxy.add_fault(
        "intercept",
        method="PUT" if size == 10 else "POST",
        path_regex=r"/race\.bin$",
        action=lambda: other.save("race.bin", ContentFile(b"theirs")),
    )
    name = storage.save("race.bin", ContentFile(ours))
    assert name != "race.bin"
    assert name.startswith("race_")
    assert read(storage, "race.bin") == b"theirs"
    assert read(storage, name) == ours
    # Our first upload went for the name, and bk-repo refused it.
    if size == 10:
        assert proxy.count("PUT", r"/race\.bin$") == 1
    else:
        assert proxy.count("POST", r"/race\.bin$") == 1
