#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# bench/python/tls_servers.py: the Python references of W9 and W10, with the ssl module
# (OpenSSL over the socket itself, no memory BIO), one connection at a time.
#   https: http.server over ssl, HTTP/1.1 keep-alive, GET answers the file's bytes
#          with a Content-Length (W9, beside corio's http::server)
#   echo:  a blocking ssl echo, recv(65536) then sendall, until the client's
#          close_notify, then one back (W10, beside corio's tls::stream echo)
#
# Usage: tls_servers.py https|echo --port P --cert C --key K [--body FILE]
import argparse
import http.server
import socket
import ssl


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["https", "echo"])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--body")
    args = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)

    if args.mode == "https":
        with open(args.body, "rb") as f:
            body = f.read()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_):
                pass

        srv = http.server.HTTPServer(("127.0.0.1", args.port), Handler)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        print(f"listening on 127.0.0.1:{srv.server_address[1]} (python)", flush=True)
        srv.serve_forever()

    listener = socket.create_server(("127.0.0.1", args.port))
    print(f"listening on 127.0.0.1:{listener.getsockname()[1]} (python)", flush=True)
    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls:
                while True:
                    data = tls.recv(65536)
                    if not data:
                        break
                    tls.sendall(data)
                tls.unwrap()
        except (ssl.SSLError, OSError):
            pass


if __name__ == "__main__":
    main()
