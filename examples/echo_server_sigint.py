#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# examples/echo_server_sigint.py: Ctrl-C stops echo_server (its CTest entry). The server accepts
# forever with a client connected and idle, so both an accept and a recv are waiting in the
# kernel; a real SIGINT must cancel them, close the client's connection, and end the process
# with status 130 within seconds: no hang, no SIGKILL needed (boostorg/cobalt#270).
#   python3 examples/echo_server_sigint.py build/gcc/examples/echo_server
import signal
import socket
import subprocess
import sys

TIMEOUT = 10


def default_sigint():
    # A shell that runs the tests in the background leaves SIGINT ignored, which run() keeps.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def main(binary):
    server = subprocess.Popen([binary, "--port", "0"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    try:
        line = server.stdout.readline()  # "listening on 127.0.0.1:PORT (BACKEND)"
        port = int(line.rsplit(":", 1)[1].split()[0])
        client = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        client.sendall(b"ping")
        if client.recv(4) != b"ping":  # the connection's task is running, now waiting in recv
            print("no echo before the SIGINT")
            return 1
        server.send_signal(signal.SIGINT)
        try:
            _, err = server.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            print("echo_server did not exit within %d s of SIGINT" % TIMEOUT)
            return 1
        if server.returncode != 130:
            print("echo_server exited with %d, expected 130; stderr: %s" % (server.returncode, err))
            return 1
        if client.recv(1) != b"":
            print("the client's connection was not closed")
            return 1
        print("SIGINT: echo_server closed its connection and exited with 130, on %s"
              % line.strip().rsplit(" ", 1)[1].strip("()"))
        return 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
