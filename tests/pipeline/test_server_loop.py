"""`ladder server`'s event loop turns Nagle's algorithm off on connections accepted through
a listening socket bound the way uvicorn binds it for `--workers N` (`proto` 0), where
asyncio's own loop leaves it on and each kept-alive response waits ~40 ms for an ACK."""

from __future__ import annotations

import asyncio
import socket

from pipeline.tracking.server_loop import NoDelayEventLoop


def nodelay_of_an_accepted_connection(loop: asyncio.AbstractEventLoop) -> int:
    """TCP_NODELAY of a connection `loop` accepts on a socket bound as uvicorn binds it."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # proto 0: uvicorn's bind
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    async def accept_one() -> int:
        seen: asyncio.Future[int] = loop.create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        server = await loop.create_server(Probe, sock=listener)
        _, writer = await asyncio.open_connection(*listener.getsockname())
        try:
            return await asyncio.wait_for(seen, 10)
        finally:
            writer.close()
            server.close()

    try:
        return loop.run_until_complete(accept_one())
    finally:
        loop.close()


def test_asyncios_own_loop_leaves_nagle_on_there():
    """Why the loop exists: if this fails, Python fixed it and the loop can go."""
    assert nodelay_of_an_accepted_connection(asyncio.SelectorEventLoop()) == 0


def test_the_servers_loop_turns_nagle_off():
    assert nodelay_of_an_accepted_connection(NoDelayEventLoop()) != 0
