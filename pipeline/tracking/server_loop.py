"""The event loop `ladder server` gives uvicorn: TCP_NODELAY on every accepted connection.

With `--workers N` uvicorn binds the listening socket itself and leaves its `proto` at 0;
the accepted sockets inherit it, and asyncio turns Nagle's algorithm off only on sockets
whose `proto` is IPPROTO_TCP (uvicorn issue #3149, open). Nagle then holds each response's
body until the client acknowledges its headers, which Linux delays by 40 ms: every request
after the first on a kept-alive connection waited ~40 ms (MLflow's `/health` 44 ms instead
of 2 ms), and a client sending thousands of requests in order (`ladder sync`) waited on
each. `ladder server` passes this loop as `--uvicorn-opts "--loop ..."`.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

LOOP_OPTION = f"--loop {__name__}:NoDelayEventLoop"


class NoDelayEventLoop(asyncio.SelectorEventLoop):
    """asyncio's selector loop, setting TCP_NODELAY on each TCP socket it wraps."""

    def _make_socket_transport(self, sock: socket.socket, *args: Any, **kwargs: Any) -> Any:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return super()._make_socket_transport(sock, *args, **kwargs)
