"""Serve a sandbox (or any WSGI app) on a local port in a background thread."""

import threading
from dataclasses import dataclass

from werkzeug.serving import WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):  # the sandboxes keep their own request logs
        pass

    def log_error(self, *args):
        pass


@dataclass
class ServerHandle:
    url: str
    port: int
    _server: object
    _thread: threading.Thread

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def start(app, host: str = "127.0.0.1", port: int = 0) -> ServerHandle:
    server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(
        target=server.serve_forever, name=f"sandbox:{server.port}", daemon=True
    )
    thread.start()
    return ServerHandle(f"http://{host}:{server.port}", server.port, server, thread)
