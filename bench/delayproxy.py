"""A TCP proxy on 127.0.0.1 that delays every byte by a fixed time each way: a WAN in miniature.

Real bk-repo sits across a network, where the number of round trips decides
more than throughput. This proxy adds ``delay`` seconds to each direction
(so a request/response round trip costs ``2 * delay`` more), with no
bandwidth limit and the byte order kept. It listens on loopback only.

Usage::

    with DelayProxy("127.0.0.1", 8765, delay=0.005) as proxy:
        url = f"http://127.0.0.1:{proxy.port}"

or ``python bench/delayproxy.py TARGET_PORT [DELAY_MS]`` to run it alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
from typing import Any

CHUNK = 256 * 1024


class DelayProxy:
    """Listens on a free loopback port; forwards to ``host:port`` with ``delay`` seconds each way."""

    def __init__(self, host: str, port: int, delay: float = 0.005) -> None:
        self.target = (host, port)
        self.delay = delay
        self.port = 0
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="delay-proxy", daemon=True)
        self._server: asyncio.base_events.Server | None = None

    def start(self) -> DelayProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __enter__(self) -> DelayProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _listen(self) -> asyncio.base_events.Server:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        return server

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        with contextlib.suppress(asyncio.CancelledError):  # the proxy stopping
            await asyncio.gather(
                self._pipe(client_reader, server_writer),
                self._pipe(server_reader, client_writer),
                return_exceptions=True,
            )
        for writer in (client_writer, server_writer):
            with contextlib.suppress(Exception):
                writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read as data comes; each piece is written ``delay`` after it arrived, in order."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
            with contextlib.suppress(OSError):
                writer.write_eof()

        delivering = asyncio.ensure_future(deliver())
        try:
            while True:
                data = await reader.read(CHUNK)
                queue.put_nowait((time.monotonic() + self.delay, data))
                if not data:
                    break
            await delivering
        except OSError:
            delivering.cancel()


def main(argv: list[str]) -> None:
    port = int(argv[0])
    delay = float(argv[1]) / 1000 if len(argv) > 1 else 0.005
    with DelayProxy("127.0.0.1", port, delay) as proxy:
        print(f"forwarding 127.0.0.1:{proxy.port} -> 127.0.0.1:{port} with {delay * 1000:.1f} ms each way", flush=True)
        event: Any = threading.Event()
        with contextlib.suppress(KeyboardInterrupt):
            event.wait()


if __name__ == "__main__":
    main(sys.argv[1:])
