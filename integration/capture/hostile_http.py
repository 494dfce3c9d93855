#!/usr/bin/env python3
"""A deliberately hostile HTTP server for capturing BuildKit's error messages.

GET /status/<n>/<name>    answers HTTP <n> (429 with Retry-After: 1)
GET /ok/<name>            answers 200 "hello\\n"
GET /reset/<name>         resets the TCP connection (SO_LINGER 0) before answering
GET /truncate/<name>      promises 1000 bytes, sends 10, closes
GET /stall/<name>         promises 1000 bytes, sends 10, then sends nothing for an hour
GET /loop/<name>          302 to itself
GET /file/<name>          302 to file:///etc/passwd
GET /other-host/<name>    302 to the same server as http://localhost:<port>/ok/<name>

Prints its port on the first line of stdout. Standard library only.
"""
import socket
import struct
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        parts = self.path.split("/")
        kind = parts[1] if len(parts) > 2 else ""
        name = parts[-1]
        if kind == "status":
            n = int(parts[2])
            self.send_response(n)
            if n == 429:
                self.send_header("Retry-After", "1")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif kind == "ok":
            self.send_response(200)
            self.send_header("Content-Length", "6")
            self.end_headers()
            self.wfile.write(b"hello\n")
        elif kind == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        elif kind in ("truncate", "stall"):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            if kind == "stall":
                time.sleep(3600)
            self.close_connection = True
        elif kind in ("loop", "file", "other-host"):
            target = {
                "loop": self.path,
                "file": "file:///etc/passwd",
                "other-host": f"http://localhost:{self.server.server_port}/ok/{name}",
            }[kind]
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), Handler)
    server.daemon_threads = True
    print(server.server_port, flush=True)
    server.serve_forever()
