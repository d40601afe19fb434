"""A plain file server for the NuGet benchmark's static floor: the standard library's, with keep-alive.

    python bench/_static_server.py PORT DIRECTORY

`python -m http.server` speaks HTTP/1.0 and closes every connection. With `--protocol HTTP/1.1` it keeps them
open but writes the headers and the body in two sends, and Nagle's algorithm with the client's delayed ACK then
stalls each response for tens of milliseconds (restores took twice as long). Setting TCP_NODELAY removes the stall,
so the floor is what serving the files costs, not a socket setting. Binds 127.0.0.1 only; logs each request.
"""

from __future__ import annotations

import socket
import sys
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer


class Handler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def main() -> None:
    port, directory = int(sys.argv[1]), sys.argv[2]
    with ThreadingHTTPServer(("127.0.0.1", port), partial(Handler, directory=directory)) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
