"""Serve a sandbox (or any WSGI app) on a local port in a background thread."""

import contextlib
import socket
import threading
from dataclasses import dataclass

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):  # the sandboxes keep their own request logs
        pass

    def log_error(self, *args):
        pass


@dataclass
class ServerHandle:
    url: str
    port: int
    _server: BaseWSGIServer
    _thread: threading.Thread

    def stop(self) -> None:
        """Stop serving and free the port, at once rather than at the loop's next poll."""
        stopping = threading.Thread(target=self._server.shutdown, daemon=True)
        stopping.start()
        while stopping.is_alive():
            self._wake()
            stopping.join(0.01)
        self._server.server_close()
        self._thread.join(timeout=10)

    def _wake(self) -> None:
        # A connection ends the serving loop's wait; seeing the shutdown flag, it never
        # accepts it (or, if it came first, answers it as an empty request).
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()

    def __enter__(self) -> "ServerHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start(app, host: str = "127.0.0.1", port: int = 0) -> ServerHandle:
    """Serve `app` (threaded) until stop(); port 0 picks a free one. `.url` has no trailing /."""
    server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(
        target=server.serve_forever, name=f"sandbox:{server.port}", daemon=True
    )
    thread.start()
    return ServerHandle(f"http://{host}:{server.port}", server.port, server, thread)
