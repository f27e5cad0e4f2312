"""One benchmark client process: runs tasks and prints one JSON line per task.

Started by ``bench/run.py`` as ``python bench/worker.py TASKS.json`` with one of
three clients:

``ours``
    ``bkstorages.backends.bkrepo.BKRepoStorage`` from this checkout.
``anchor``
    bkstorages 3.1.0 from PyPI, run with the Python of ``bench/.venv-anchor``
    (this file must therefore work with Django and requests alone).
``requests``
    raw requests with best-practice streaming: the transfer ceiling in Python.

Every task is timed inside this process, so interpreter start-up and imports
are not counted. Peak RSS growth is the kernel's high-water mark (``VmHWM``,
reset through ``/proc/self/clear_refs`` just before the task) minus the RSS
at that moment. A task that fails reports its error instead of a figure.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import statistics
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

MIB = 1024 * 1024
COPY_CHUNK = MIB


# -- measuring ------------------------------------------------------------------


def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def reset_peak_rss() -> int:
    """Reset the kernel's RSS high-water mark; return the current RSS in KiB."""
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
        clear.write("5")
    return _status_kib("VmRSS")


def peak_rss_kib() -> int:
    return _status_kib("VmHWM")


class ByteCounter:
    """Counts bytes received on every socket of this process while active.

    This only observes ``socket.recv_into``/``recv`` (what http.client reads
    through); it changes no behaviour.
    """

    def __init__(self) -> None:
        self.received = 0
        self._lock = threading.Lock()
        self._saved: dict[str, Any] = {}

    def __enter__(self) -> ByteCounter:
        counter = self
        original_recv_into = socket.socket.recv_into
        original_recv = socket.socket.recv

        def recv_into(sock: socket.socket, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
            got = original_recv_into(sock, buffer, nbytes, flags)
            with counter._lock:
                counter.received += got
            return got

        def recv(sock: socket.socket, bufsize: int, flags: int = 0) -> bytes:
            data = original_recv(sock, bufsize, flags)
            with counter._lock:
                counter.received += len(data)
            return data

        self._saved = {"recv_into": original_recv_into, "recv": original_recv}
        socket.socket.recv_into = recv_into  # type: ignore[method-assign,assignment]
        socket.socket.recv = recv  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        socket.socket.recv_into = self._saved["recv_into"]  # type: ignore[method-assign]
        socket.socket.recv = self._saved["recv"]  # type: ignore[method-assign]


class RequestCounter:
    """Counts the HTTP requests this process sends (every client goes through ``http.client``).

    Installed once at start; tasks read ``count`` before and after their timed part.
    It only observes ``HTTPConnection.putrequest``; it changes no behaviour.
    """

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def install(self) -> None:
        import http.client

        counter = self
        original = http.client.HTTPConnection.putrequest

        def putrequest(connection: Any, *args: Any, **kwargs: Any) -> Any:
            with counter._lock:
                counter.count += 1
            return original(connection, *args, **kwargs)

        http.client.HTTPConnection.putrequest = putrequest  # type: ignore[method-assign]


REQUESTS = RequestCounter()


# -- the clients ------------------------------------------------------------------


def setup_django() -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            USE_TZ=True,
            INSTALLED_APPS=["django.contrib.staticfiles"],
            STATIC_URL="/static/",
            STATICFILES_FINDERS=["django.contrib.staticfiles.finders.FileSystemFinder"],
            LOGGING_CONFIG=None,
        )
        django.setup()


class StorageClient:
    """Drives a Django storage class (ours or 3.1.0) through its public API only."""

    def __init__(self, kind: str, env: dict[str, str]) -> None:
        self.kind = kind
        self.env = env
        os.environ.update(env)
        setup_django()
        from bkstorages.backends.bkrepo import BKRepoStorage

        self.storage_class = BKRepoStorage

    def storage(self, bucket: str | None = None, **options: Any) -> Any:
        """A new storage object for ``bucket`` (default: the private bucket)."""
        bucket = bucket or self.env["BKREPO_PRIVATE_BUCKET"]
        if self.kind == "anchor":
            # 3.1.0 reads its settings once, at import time: only the argument works.
            return self.storage_class(bucket=bucket, **options)
        os.environ["BKREPO_BUCKET"] = bucket
        return self.storage_class(**options)

    def version(self) -> str:
        import bkstorages

        return str(bkstorages.__version__)


class RequestsClient:
    """Raw requests, written the way its documentation recommends for big bodies."""

    def __init__(self, env: dict[str, str]) -> None:
        import requests

        self.requests = requests
        self.env = env
        self.auth = (env["BKREPO_USERNAME"], env["BKREPO_PASSWORD"])
        self._local = threading.local()

    def session(self) -> Any:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self.requests.Session()
            session.auth = self.auth
            self._local.session = session
        return session

    def url(self, name: str, bucket: str | None = None) -> str:
        from urllib.parse import quote

        bucket = bucket or self.env["BKREPO_PRIVATE_BUCKET"]
        return f"{self.env['BKREPO_ENDPOINT_URL']}/generic/{self.env['BKREPO_PROJECT']}/{bucket}/{quote(name)}"

    def download(self, name: str, sink: Any) -> int:
        received = 0
        with self.session().get(self.url(name), stream=True) as response:
            response.raise_for_status()
            for chunk in response.iter_content(COPY_CHUNK):
                sink.write(chunk)
                received += len(chunk)
        return received

    def upload(self, name: str, body: Any) -> None:
        response = self.session().put(self.url(name), data=body, headers={"X-BKREPO-OVERWRITE": "true"})
        response.raise_for_status()

    def head(self, name: str) -> Any:
        return self.session().head(self.url(name))

    def read_range(self, name: str, offset: int, length: int) -> bytes:
        headers = {"Range": f"bytes={offset}-{offset + length - 1}"}
        response = self.session().get(self.url(name), headers=headers)
        response.raise_for_status()
        return bytes(response.content)


# -- tasks ------------------------------------------------------------------------


def verify_upload(env: dict[str, str], name: str, size: int, sha256: str) -> str | None:
    """Check an uploaded object with a raw HEAD; return a problem or None."""
    checker = RequestsClient(env)
    response = checker.head(name)
    if response.status_code != 200:
        return f"HEAD after upload answered {response.status_code}"
    length = response.headers.get("Content-Length")
    if length != str(size):
        return f"stored size is {length}, expected {size}"
    stored_sha = response.headers.get("X-Checksum-Sha256") or response.headers.get("ETag", "").strip('"')
    if stored_sha and stored_sha != sha256:
        return "stored content differs from the source (sha256 mismatch)"
    return None


def task_download(client: Any, params: dict[str, Any]) -> dict[str, Any]:
    names: list[str] = params["names"]
    expected = params["size"]
    total = 0
    # One storage object for the whole task, as a Django site has (default_storage).
    storage: Any = None if isinstance(client, RequestsClient) else client.storage()
    with open(os.devnull, "wb") as sink:
        started = time.perf_counter()
        for name in names:
            if isinstance(client, RequestsClient):
                got = client.download(name, sink)
            else:
                got = 0
                with storage.open(name, "rb") as remote:
                    for chunk in remote.chunks():
                        sink.write(chunk)
                        got += len(chunk)
            if got != expected:
                raise RuntimeError(f"downloaded {got} bytes of {name}, expected {expected}")
            total += got
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "bytes": total, "ops": len(names)}


def task_upload(client: Any, params: dict[str, Any]) -> dict[str, Any]:
    names: list[str] = params["names"]
    source = params["source"]
    size = os.path.getsize(source)
    started = time.perf_counter()
    if isinstance(client, RequestsClient):
        for name in names:
            with open(source, "rb") as body:
                client.upload(name, body)
    else:
        from django.core.files import File

        storage = client.storage()
        for name in names:
            with open(source, "rb") as body:
                saved = storage.save(name, File(body, name=name))
            if saved.lstrip("/") != name:
                raise RuntimeError(f"save({name!r}) stored it as {saved!r}")
    seconds = time.perf_counter() - started
    result: dict[str, Any] = {"seconds": seconds, "bytes": size * len(names), "ops": len(names)}
    problem = verify_upload(client.env, names[-1], size, params["sha256"])
    if problem:
        result["error"] = problem
    return result


def task_random_read(client: Any, params: dict[str, Any]) -> dict[str, Any]:
    name = params["name"]
    offsets: list[int] = params["offsets"]
    length = params["length"]
    budget = params.get("budget_seconds")
    latencies: list[float] = []
    storage: Any = None if isinstance(client, RequestsClient) else client.storage()
    with open(params["source"], "rb") as source, ByteCounter() as counter:
        started = time.perf_counter()
        for offset in offsets:
            t0 = time.perf_counter()
            if isinstance(client, RequestsClient):
                data = client.read_range(name, offset, length)
            else:
                with storage.open(name, "rb") as remote:
                    remote.seek(offset)
                    data = remote.read(length)
            latencies.append(time.perf_counter() - t0)
            source.seek(offset)
            if data != source.read(length):
                raise RuntimeError(f"read({length}) at offset {offset} returned wrong bytes ({len(data)} bytes)")
            if budget and time.perf_counter() - started > budget:
                break
        seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "ops": len(latencies),
        "latency_median": statistics.median(latencies),
        "latency_max": max(latencies),
        "received_per_op": counter.received / len(latencies),
        "bytes": counter.received,
    }


class Timed:
    """The time and the HTTP requests of a task's timed part."""

    def __enter__(self) -> Timed:
        self.requests = REQUESTS.count
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started
        self.requests = REQUESTS.count - self.requests

    def result(self, ops: int) -> dict[str, Any]:
        return {"seconds": self.seconds, "ops": ops, "requests": self.requests}


def timed_loop_result(call: Callable[[str], Any], names: list[str], budget: float | None) -> dict[str, Any]:
    """Call ``call`` on each name (stop early once ``budget`` seconds passed); time and requests."""
    done = 0
    with Timed() as timed:
        for name in names:
            call(name)
            done += 1
            if budget is not None and done % 50 == 0 and time.perf_counter() - timed.started > budget:
                break
    return timed.result(done)


def task_url(client: Any, params: dict[str, Any]) -> dict[str, Any]:
    bucket = params["bucket"]
    storage = client.storage(bucket)
    names: list[str] = params["names"]
    warm_names: list[str] = params.get("warm_names") or []
    for name in warm_names:
        storage.url(name)
    result = timed_loop_result(storage.url, names, params.get("budget_seconds"))
    # The last URL must really serve the object (anonymously for a signed or public URL).
    import requests

    url = storage.url(params["check_name"])
    response = requests.get(url)
    if response.status_code != 200 or len(response.content) != params["check_size"]:
        result["error"] = f"GET of the url() answered {response.status_code} ({len(response.content)} bytes)"
    return result


def task_exists(client: Any, params: dict[str, Any]) -> dict[str, Any]:
    names: list[str] = params["names"]
    answers: list[bool] = []
    if isinstance(client, RequestsClient):
        result = timed_loop_result(lambda name: answers.append(client.head(name).status_code == 200), names, None)
    else:
        storage = client.storage()
        result = timed_loop_result(lambda name: answers.append(storage.exists(name)), names, None)
    if not all(answers):
        result["error"] = f"exists() said False for {answers.count(False)} existing files"
    return result


def task_size(client: Any, params: dict[str, Any]) -> dict[str, Any]:
    names: list[str] = params["names"]
    answers: list[Any] = []
    if isinstance(client, RequestsClient):
        result = timed_loop_result(
            lambda name: answers.append(int(client.head(name).headers["Content-Length"])), names, None
        )
    else:
        storage = client.storage()
        result = timed_loop_result(lambda name: answers.append(storage.size(name)), names, None)
    wrong = [answer for answer in answers if answer != params["size"] or type(answer) is not int]
    if wrong:
        result["error"] = f"size() returned {wrong[0]!r} ({type(wrong[0]).__name__}), expected int {params['size']}"
    return result


def task_listdir(client: Any, params: dict[str, Any]) -> dict[str, Any]:
    storage = client.storage()
    with Timed() as timed:
        dirs, files = storage.listdir(params["path"])
    result: dict[str, Any] = {**timed.result(1), "files": len(files)}
    if len(files) != params["files"] or dirs:
        result["error"] = f"listdir() found {len(dirs)} folders and {len(files)} files, expected {params['files']}"
    return result


def task_saves(client: Any, params: dict[str, Any]) -> dict[str, Any]:
    names: list[str] = params["names"]
    threads = params["threads"]
    payload = os.urandom(params["size"])
    if isinstance(client, RequestsClient):

        def save_one(name: str) -> str:
            client.upload(name, payload)
            return name

    else:
        from django.core.files.base import ContentFile

        options = {} if params.get("overwrite", True) else {"file_overwrite": False}
        storage = client.storage(**options)

        def save_one(name: str) -> str:
            return str(storage.save(name, ContentFile(payload))).lstrip("/")

    before = REQUESTS.count
    started = time.perf_counter()
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            saved = list(pool.map(save_one, names))
    else:
        saved = [save_one(name) for name in names]
    seconds = time.perf_counter() - started
    result: dict[str, Any] = {"seconds": seconds, "ops": len(names), "requests": REQUESTS.count - before}
    if saved != names:
        result["error"] = "some saves stored a different name"
    else:
        problem = verify_upload(client.env, names[-1], len(payload), hashlib.sha256(payload).hexdigest())
        if problem:
            result["error"] = problem
    return result


def task_read_small(client: Any, params: dict[str, Any]) -> dict[str, Any]:
    """``open(name).read()`` of small files, as a view serving them does."""
    storage = client.storage()
    sizes: list[int] = []

    def read(name: str) -> None:
        with storage.open(name, "rb") as remote:
            sizes.append(len(remote.read()))

    result = timed_loop_result(read, params["names"], None)
    if any(size != params["size"] for size in sizes):
        result["error"] = f"read() returned {sizes[0]} bytes, expected {params['size']}"
    return result


def task_url_page(client: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Pages of private ``url(name, expire)`` calls on names not seen before (cold), as a web process
    renders them: one storage, set up and connected by a first call before the pages are timed."""
    pages: list[list[str]] = params["pages"]
    latencies: list[float] = []
    requests_made = 0
    storage = client.storage()

    def url(name: str) -> str:
        if client.kind == "anchor":
            return str(storage.url(name))  # 3.1.0 has no expire argument
        return str(storage.url(name, params["expire"]))

    url(params["warm_name"])
    for names in pages:
        with Timed() as timed:
            for name in names:
                url(name)
        latencies.append(timed.seconds)
        requests_made += timed.requests
    return {
        "seconds": sum(latencies),
        "ops": len(pages),
        "latency_median": statistics.median(latencies),
        "requests": requests_made,
    }


def task_copy(client: Any, params: dict[str, Any]) -> dict[str, Any]:
    """A copy of a big object: server-side ``copy()``, or ``save(open())`` through the client."""
    storage = client.storage()
    source, target = params["source"], params["target"]
    with Timed() as timed:
        if params["server_side"]:
            storage.copy(source, target)
        else:
            with storage.open(source, "rb") as remote:
                saved = storage.save(target, remote)
            if saved.lstrip("/") != target:
                raise RuntimeError(f"save({target!r}) stored it as {saved!r}")
    result = {**timed.result(1), "bytes": params["size"]}
    problem = verify_upload(client.env, target, params["size"], params["sha256"])
    if problem:
        result["error"] = problem
    return result


def _static_storage(client: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The ``STORAGES["staticfiles"]`` entry of a client."""
    if client.kind == "local":
        return {
            "BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage",
            "OPTIONS": {"location": params["static_root"]},
        }
    if client.kind == "anchor":
        # 3.1.0 has no static storage, and Django's manifest mixin cannot start on it (a missing
        # staticfiles.json raises DownloadFailedError, not FileNotFoundError): its plain storage.
        options = {"root_path": params["location"], "bucket": client.env["BKREPO_PUBLIC_BUCKET"]}
        return {"BACKEND": "bkstorages.backends.bkrepo.BKRepoStorage", "OPTIONS": options}
    options = {"location": params["location"], "bucket": client.env["BKREPO_PUBLIC_BUCKET"]}
    return {"BACKEND": "bkstorages_contrib.staticfiles.BKRepoManifestStaticStorage", "OPTIONS": options}


def task_collectstatic(client: Any, params: dict[str, Any]) -> dict[str, Any]:
    """``collectstatic`` of a folder of static files; ``prime`` runs it once untimed first."""
    from django.core.management import call_command
    from django.test.utils import override_settings

    storages = {"default": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}
    storages["staticfiles"] = _static_storage(client, params)
    settings = {"STATICFILES_DIRS": [params["source"]], "STORAGES": storages, "STATIC_ROOT": params["static_root"]}
    if client.kind == "anchor":
        settings["USE_TZ"] = False  # 3.1.0's times are naive: with USE_TZ collectstatic cannot compare them
    if params.get("prime"):
        with override_settings(**settings):
            call_command("collectstatic", interactive=False, verbosity=0)
    # Fresh storage objects (overriding STORAGES resets them), as the next deploy's process has.
    with override_settings(**settings), Timed() as timed:
        call_command("collectstatic", interactive=False, verbosity=0)
    return {**timed.result(1), "files": params["files"]}


def task_checks(client: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Correctness checks through the public API; each records ok or what went wrong."""
    from django.core.files.base import ContentFile

    storage = client.storage()
    prefix = params["prefix"]
    checks: dict[str, str] = {}

    def check(label: str, test: Callable[[], str | None]) -> None:
        try:
            problem = test()
        except Exception as exc:
            problem = f"{type(exc).__name__}: {str(exc)[:200]}"
        checks[label] = problem or "ok"

    def empty_file() -> str | None:
        name = f"{prefix}/empty.bin"
        storage.save(name, ContentFile(b""))
        response = RequestsClient(client.env).head(name)
        if response.status_code != 200:
            return f"the object is missing after save (HEAD {response.status_code})"
        if response.headers.get("Content-Length") != "0":
            return f"stored size is {response.headers.get('Content-Length')}"
        with storage.open(name, "rb") as remote:
            data = remote.read()
        return None if data == b"" else f"read() returned {len(data)} bytes"

    def round_trip() -> str | None:
        payload = os.urandom(300_000)
        name = storage.save(f"{prefix}/round trip #1.bin", ContentFile(payload))
        with storage.open(name, "rb") as remote:
            data = remote.read()
        return None if data == payload else f"read back {len(data)} bytes that differ"

    def missing() -> str | None:
        if storage.exists(f"{prefix}/no-such-file"):
            return "exists() is True for a missing file"
        try:
            storage.size(f"{prefix}/no-such-file")
        except FileNotFoundError:
            return None
        except Exception as exc:
            return f"size() of a missing file raised {type(exc).__name__}, not FileNotFoundError"
        return "size() of a missing file did not raise"

    def size_type() -> str | None:
        name = storage.save(f"{prefix}/four.bin", ContentFile(b"abcd"))
        value = storage.size(name)
        return None if value == 4 and type(value) is int else f"size() returned {value!r}"

    def no_overwrite() -> str | None:
        keeper = client.storage_class(file_overwrite=False)
        first = keeper.save(f"{prefix}/keep.txt", ContentFile(b"first"))
        second = keeper.save(f"{prefix}/keep.txt", ContentFile(b"second"))
        if first == second:
            return "the second save with overwrite off replaced the first file"
        with keeper.open(first, "rb") as remote:
            return None if remote.read() == b"first" else "the first file changed"

    check("0-byte save", empty_file)
    check("save/open round trip", round_trip)
    check("missing file", missing)
    check("size() is an int", size_type)
    check("overwrite off keeps both", no_overwrite)
    return {"seconds": 0.0, "ops": len(checks), "checks": checks}


TASKS: dict[str, Callable[[Any, dict[str, Any]], dict[str, Any]]] = {
    "download": task_download,
    "upload": task_upload,
    "random_read": task_random_read,
    "url": task_url,
    "exists": task_exists,
    "size": task_size,
    "listdir": task_listdir,
    "saves": task_saves,
    "read_small": task_read_small,
    "url_page": task_url_page,
    "copy": task_copy,
    "collectstatic": task_collectstatic,
    "checks": task_checks,
}


def make_client(kind: str, env: dict[str, str]) -> Any:
    """``local`` is Django's own storage on disk (ours installed, no bk-repo in the timed part)."""
    if kind == "requests":
        return RequestsClient(env)
    return StorageClient(kind, env)


@contextlib.contextmanager
def profiled(path: str | None) -> Iterator[None]:
    """Profile the block with pyinstrument (when asked and installed) into ``path``."""
    if not path:
        yield
        return
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()
        with open(path, "w", encoding="utf-8") as out:
            out.write(profiler.output_text(unicode=True, show_all=False))


def profile_path(spec: dict[str, Any], task: dict[str, Any]) -> str | None:
    folder = spec.get("profile_to")
    if not folder:
        return None
    return os.path.join(folder, f"{spec['client']}-{task['id']}-{time.strftime('%H%M%S')}-{os.getpid()}.txt")


def run(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    REQUESTS.install()
    client = make_client(spec["client"], spec["env"])
    for task in spec["tasks"]:
        result: dict[str, Any] = {"id": task["id"]}
        baseline = reset_peak_rss()
        cpu_started = time.process_time()
        try:
            with profiled(profile_path(spec, task)):
                result.update(TASKS[task["kind"]](client, task["params"]))
            # The client's own CPU time for the task (all threads), set-up included.
            result["cpu_seconds"] = time.process_time() - cpu_started
        except Exception as exc:
            result["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
            result["traceback"] = traceback.format_exc()[-2000:]
        result["rss_growth_kib"] = max(0, peak_rss_kib() - baseline)
        yield result


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as spec_file:
        spec = json.load(spec_file)
    for result in run(spec):
        print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
