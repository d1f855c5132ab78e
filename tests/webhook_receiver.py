"""A webhook receiver on loopback: real HTTP, every request recorded.

``answer(status, delay=0, headers=None, times=1)`` queues answers; without one
it answers 204. ``requests`` holds ``(path, headers, body)`` of each request.
"""

import ssl
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self, *, tls=None):
        """``tls``: ``(cert.pem, key.pem)`` to serve HTTPS."""
        self.requests = []
        self.answers = deque()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append((self.path, dict(self.headers), body))
                    answer = receiver.answers.popleft() if receiver.answers else (204, 0, {})
                status, delay, headers = answer
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the client gave up (a timeout test)

            do_GET = do_POST

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    @property
    def port(self):
        return self.server.server_address[1]

    def url(self, path="/hooks"):
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def answer(self, status, *, delay=0.0, headers=None, times=1):
        with self._lock:
            self.answers.extend([(status, delay, headers or {})] * times)

    def to(self, path):
        return [request for request in self.requests if request[0] == path]
