"""Benchmark helper: a loopback TCP relay that delays each direction by a fixed time.

Listens on 127.0.0.1:PORT (`--port`, default a free one), forwards every connection to
127.0.0.1:TARGET (`--target-port`), and holds every chunk it receives for `--delay-ms`
(default 2 ms) before passing it on, in both directions, without limiting how much is in flight:
a round trip costs twice the delay more than loopback, so latency, not CPU, bounds one stream, as
on a network mount. `bench/load.py` puts it between sshfs and its private sshd. Prints the port it
listens on (one line on stdout), then relays until it is killed. Not a test.

    .venv/bin/python bench/delay_relay.py --target-port 2222 --delay-ms 2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

HOST = "127.0.0.1"
CHUNK = 256 * 1024
"""Bytes read from a socket at a time."""
IN_FLIGHT = 256
"""Chunks held per direction before the relay stops reading (TCP back-pressure beyond that)."""

Held = tuple[float, bytes]
"""(loop time when the chunk may be sent on, the chunk; empty at end of stream)"""


async def _receive(reader: asyncio.StreamReader, queue: asyncio.Queue[Held], delay: float) -> None:
    loop = asyncio.get_running_loop()
    while data := await reader.read(CHUNK):
        await queue.put((loop.time() + delay, data))
    await queue.put((loop.time() + delay, b""))


async def _send(writer: asyncio.StreamWriter, queue: asyncio.Queue[Held]) -> None:
    loop = asyncio.get_running_loop()
    while True:
        due, data = await queue.get()
        wait = due - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        if not data:
            if writer.can_write_eof():
                writer.write_eof()
            return
        writer.write(data)
        await writer.drain()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """One direction: every chunk from `reader` reaches `writer` `delay` seconds later."""
    queue: asyncio.Queue[Held] = asyncio.Queue(maxsize=IN_FLIGHT)
    await asyncio.gather(_receive(reader, queue, delay), _send(writer, queue))


async def _relay(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    target_port: int,
    delay: float,
) -> None:
    try:
        server_reader, server_writer = await asyncio.open_connection(HOST, target_port)
    except OSError:
        client_writer.close()
        return
    writers = (client_writer, server_writer)
    try:
        await asyncio.gather(
            _pump(client_reader, server_writer, delay),
            _pump(server_reader, client_writer, delay),
        )
    except (OSError, asyncio.IncompleteReadError):
        pass  # one side went away: close both, which ends the other direction
    finally:
        for writer in writers:
            writer.close()
        for writer in writers:
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def serve(port: int, target_port: int, delay_ms: float) -> None:
    """Relay 127.0.0.1:`port` (0: a free port) to 127.0.0.1:`target_port` until cancelled."""
    delay = delay_ms / 1000

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _relay(reader, writer, target_port, delay)

    server = await asyncio.start_server(handle, HOST, port)
    bound = server.sockets[0].getsockname()[1]
    print(bound, flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: free)")
    parser.add_argument("--target-port", type=int, required=True, help="port to forward to")
    parser.add_argument("--delay-ms", type=float, default=2.0, help="delay per direction (2)")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.target_port, args.delay_ms))
    sys.exit(0)


if __name__ == "__main__":
    main()
