#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# tests/http/peer.py: an independent HTTP peer (Python's http.client and raw sockets) for
# tests/http/python_peer_test.cpp, which serves corio::http::server on 127.0.0.1 and runs
#   python3 peer.py PORT CASE
# Each CASE checks one behaviour of the server; it prints what it saw and exits 0 when the
# server behaved, 1 (with the reason on stdout) when not.
#   python3 peer.py serve CONNECTIONS
# is a server for corio's client instead: it prints its port, answers CONNECTIONS
# connections (see RESPONSES) and exits.
import http.client
import socket
import sys
import threading
import time

TIMEOUT = 10


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def raw_exchange(port, data):
    """Sends `data` on a new connection, then reads until the server closes (or TIMEOUT)."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.sendall(data)
        received = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return received
            received += chunk


def status_of(reply):
    line = reply.split(b"\r\n", 1)[0]
    parts = line.split(b" ")
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        fail("not a status line: %r" % line)
    return int(parts[1])


def case_host_values(port):
    for host in [b"a b", b"@evil", b"a/b", b"[::1", b"a:b:c", b"a,b"]:
        reply = raw_exchange(port, b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
        status = status_of(reply)
        print("Host %r: %d" % (host, status))
        if status != 400:
            fail("Host %r got %d, not 400" % (host, status))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    conn.request("GET", "/")  # http.client sends Host: 127.0.0.1:PORT
    status = conn.getresponse().status
    print("Host 127.0.0.1:%d: %d" % (port, status))
    if status != 200:
        fail("a valid Host got %d" % status)


def case_chunk_whitespace(port):
    head = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    for line in [b"5 \r\n", b"5\t\r\n", b"5;a \r\n"]:
        status = status_of(raw_exchange(port, head + line + b"hello\r\n0\r\n\r\n"))
        print("chunk-size line %r: %d" % (line, status))
        if status != 400:
            fail("chunk-size line %r got %d, not 400" % (line, status))
    status = status_of(raw_exchange(port, head + b"5 ;a=b\r\nhello\r\n0\r\n\r\n"
                                    + b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"))
    print("chunk-size line b'5 ;a=b\\r\\n': %d" % status)
    if status != 200:
        fail("a valid chunk extension got %d" % status)


def case_interim_status(port):
    for status in [100, 101, 103]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        conn.request("GET", "/status/%d" % status)
        got = conn.getresponse()
        got.read()
        print("handler status %d, HTTP/1.1 client: %d" % (status, got.status))
        if got.status != 500:
            fail("a handler's %d reached an HTTP/1.1 client as %d, not 500" % (status, got.status))
        reply = raw_exchange(port, b"GET /status/%d HTTP/1.0\r\n\r\n" % status)
        print("handler status %d, HTTP/1.0 client: %r" % (status, reply.split(b"\r\n", 1)[0]))
        if status_of(reply) != 500:
            fail("a handler's %d reached an HTTP/1.0 client as %r" % (status, reply[:40]))


def case_head_length(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    conn.request("HEAD", "/sized")
    head = conn.getresponse()
    body = head.read()
    print("HEAD /sized: %d, Content-Length %s, %d body bytes"
          % (head.status, head.getheader("Content-Length"), len(body)))
    if head.status != 200 or head.getheader("Content-Length") != "12345" or body:
        fail("HEAD did not state the GET body's Content-Length")
    conn.request("GET", "/sized")  # the same connection: the HEAD response was framed right
    get = conn.getresponse()
    body = get.read()
    print("GET /sized: %d, Content-Length %s, %d body bytes"
          % (get.status, get.getheader("Content-Length"), len(body)))
    if get.getheader("Content-Length") != "12345" or len(body) != 12345:
        fail("GET after HEAD on one connection went wrong")


def case_handler_close(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    conn.request("GET", "/close")
    got = conn.getresponse()
    print("GET /close: Connection: %s, will_close %s, body %r"
          % (got.getheader("Connection"), got.will_close, got.read()))
    if got.getheader("Connection") != "close" or not got.will_close:
        fail("the handler's Connection: close was not sent")
    # Pipelined: the server answers /close, closes, and leaves the second request unanswered.
    reply = raw_exchange(port, b"GET /close HTTP/1.1\r\nHost: h\r\n\r\n"
                         b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    responses = reply.count(b"HTTP/1.1 ")
    print("pipelined after /close: %d response(s), then the server closed" % responses)
    if responses != 1:
        fail("the server answered %d pipelined requests after Connection: close" % responses)


def case_max_connections(port):
    # The server runs with max_connections = 2; connections are accepted in order.
    held = [socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) for _ in range(2)]
    status = status_of(raw_exchange(port, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"))
    print("third connection: %d" % status)
    if status != 503:
        fail("the third connection got %d, not 503" % status)
    held[0].close()  # one slot frees once the server sees this close
    deadline = time.monotonic() + TIMEOUT
    while True:
        status = status_of(raw_exchange(port, b"GET / HTTP/1.1\r\nHost: h\r\n"
                                        b"Connection: close\r\n\r\n"))
        if status == 200 or time.monotonic() > deadline:
            break
    print("after one closed: %d" % status)
    if status != 200:
        fail("no connection was served after one of the two closed")
    held[1].close()


CASES = {
    "host-values": case_host_values,
    "chunk-whitespace": case_chunk_whitespace,
    "interim-status": case_interim_status,
    "head-length": case_head_length,
    "handler-close": case_handler_close,
    "max-connections": case_max_connections,
}

# What `serve` answers, by request target; "close" says whether the server closes after it.
RESPONSES = {
    "/fold": (b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n  b\r\n\tc\r\nContent-Length: 4\r\n\r\nfold",
              False),
    "/gzip": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b\x08 until close", True),
    "/upgrade": (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\n"
                 b"Connection: Upgrade\r\n\r\n", False),
    "/ok": (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", False),
}


def answer(conn):
    """Answers requests on one connection until the client closes it."""
    with conn:
        pending = b""
        while True:
            while b"\r\n\r\n" not in pending:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                pending += chunk
            head, pending = pending.split(b"\r\n\r\n", 1)
            target = head.split(b" ")[1].decode()
            reply, close = RESPONSES.get(target, RESPONSES["/ok"])
            conn.sendall(reply)
            if close:
                return
            if target == "/upgrade":
                # Now another protocol: swallow what comes, answer nothing.
                while conn.recv(65536):
                    pass
                return


def serve(connections):
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT)  # a client that never comes ends the run with an error
    print(listener.getsockname()[1], flush=True)
    threads = []
    for _ in range(connections):
        conn, _ = listener.accept()
        conn.settimeout(TIMEOUT)
        t = threading.Thread(target=answer, args=(conn,))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
        sys.exit(0)
    if len(sys.argv) != 3 or sys.argv[2] not in CASES:
        print("usage: peer.py PORT (%s)" % " | ".join(sorted(CASES)))
        sys.exit(2)
    CASES[sys.argv[2]](int(sys.argv[1]))
    print("ok")
