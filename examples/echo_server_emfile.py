#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# examples/echo_server_emfile.py: runs echo_server with 32 file descriptors and has 80 clients
# connect at once, so that accept meets EMFILE; the server must keep every open connection,
# serve the waiting ones as others close, and stay up (its CTest entry).
#   python3 examples/echo_server_emfile.py build/gcc/examples/echo_server
import resource
import socket
import subprocess
import sys

DESCRIPTORS = 32
CLIENTS = 80
TIMEOUT = 10


def low_descriptor_limit():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (DESCRIPTORS, hard))


def main(binary):
    server = subprocess.Popen([binary, "--port", "0"], stdout=subprocess.PIPE, text=True,
                              preexec_fn=low_descriptor_limit)
    try:
        line = server.stdout.readline()  # "listening on 127.0.0.1:PORT (BACKEND)"
        port = int(line.rsplit(":", 1)[1].split()[0])
        clients = [socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
                   for _ in range(CLIENTS)]
        for i, c in enumerate(clients):
            c.sendall(b"hello from client %d" % i)
        for i, c in enumerate(clients):  # each close frees a descriptor for the next accept
            expected = b"hello from client %d" % i
            got = b""
            while len(got) < len(expected):
                chunk = c.recv(len(expected) - len(got))
                if not chunk:
                    break
                got += chunk
            if got != expected:
                print("client %d got %r, expected %r" % (i, got, expected))
                return 1
            c.close()
        if server.poll() is not None:
            print("echo_server exited with %d" % server.returncode)
            return 1
        print("%d clients echoed with %d descriptors; echo_server still running"
              % (CLIENTS, DESCRIPTORS))
        return 0
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
