"""Another web site, for the attacks that come from one: a page on another 127.0.0.1 port (another origin,
though the same site, so SameSite cookies still come along) that a signed-in user is lured to."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class OtherSite:
    """A web site on another 127.0.0.1 port (so another origin): serves the pages it is given."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        self.posts: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = site.pages.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write((body or "not here").encode())

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def auto_post(self, path: str, action: str, fields: dict[str, str]) -> str:
        """A page at ``path`` that posts ``fields`` to ``action`` as soon as it loads; returns its URL."""
        inputs = "".join(f'<input type="hidden" name="{k}" value="{v}">' for k, v in fields.items())
        self.pages[path] = (
            f'<!doctype html><meta charset="utf-8"><title>Free prizes</title>'
            f'<form id="f" method="post" action="{action}">{inputs}</form>'
            "<script>document.getElementById('f').submit()</script>"
        )
        return self.url + path
