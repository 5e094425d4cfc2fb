#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# tests/signals/signals_test.py: real signals sent to signal_target (its CTest entries).
#   python3 tests/signals/signals_test.py BINARY second-sigint|sigusr1
# second-sigint: a SIGINT cancels the main task, which takes 30 s to unwind; a second SIGINT
#   meanwhile ends the process by SIGINT's default action, at once.
# sigusr1: SIGUSR1 prints the call graph (the task names) on stderr, twice, and the process
#   goes on; a SIGINT then ends it with status 130.
# spin: a main task that only yields (it never waits for the kernel) ends with status 130
#   on SIGINT.
import contextlib
import os
import select
import signal
import subprocess
import sys

TIMEOUT = 10


def expect_line(stream, wanted):
    ready, _, _ = select.select([stream], [], [], TIMEOUT)
    line = stream.readline() if ready else ""
    if line.strip() != wanted:
        raise AssertionError("expected %r on stdout, got %r" % (wanted, line))


def read_stderr_until(fd, needles):
    seen = b""
    while not all(n in seen for n in needles):
        ready, _, _ = select.select([fd], [], [], TIMEOUT)
        chunk = os.read(fd, 65536) if ready else b""
        if not chunk:
            raise AssertionError("stderr ended or went quiet without %r: %r" % (needles, seen))
        seen += chunk
    return seen


def default_sigint():
    # A shell that runs the tests in the background leaves SIGINT ignored, which run() keeps.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_exit(proc):
    try:
        return proc.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError("no exit within %d s" % TIMEOUT)


@contextlib.contextmanager
def started(binary, mode, stderr=None):
    # signal_target in `mode`, once it has printed "ready"; killed on the way out if the
    # check did not end it.
    proc = subprocess.Popen([binary, mode], stdout=subprocess.PIPE, stderr=stderr, text=True,
                            preexec_fn=default_sigint)
    try:
        expect_line(proc.stdout, "ready")
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def expect_status_130_after_sigint(proc):
    proc.send_signal(signal.SIGINT)
    status = wait_exit(proc)
    if status != 130:
        raise AssertionError("exit status %d after SIGINT, expected 130" % status)


def second_sigint(binary):
    with started(binary, "--slow-unwind") as proc:
        proc.send_signal(signal.SIGINT)
        expect_line(proc.stdout, "unwinding")
        proc.send_signal(signal.SIGINT)
        status = wait_exit(proc)
        if status != -signal.SIGINT:
            raise AssertionError("exit status %d, expected death by SIGINT" % status)
        print("the second SIGINT ended the unwinding process by SIGINT")


def sigusr1(binary):
    with started(binary, "--sigusr1", stderr=subprocess.PIPE) as proc:
        err = proc.stderr.fileno()
        for _ in range(2):
            proc.send_signal(signal.SIGUSR1)
            graph = read_stderr_until(err, [b"name='sigusr1_worker'", b"wait_in_graph",
                                            b"Suspended at: sleep", b"Suspended at: event wait"])
            if proc.poll() is not None:
                raise AssertionError("SIGUSR1 ended the process")
        expect_status_130_after_sigint(proc)
        print(graph.decode().rstrip())
        print("SIGUSR1 printed the call graph twice; SIGINT then exited with 130")


def spin(binary):
    with started(binary, "--spin") as proc:
        expect_status_130_after_sigint(proc)
        print("a loop that only yields exited with 130 on SIGINT")


if __name__ == "__main__":
    {"second-sigint": second_sigint, "sigusr1": sigusr1, "spin": spin}[sys.argv[2]](sys.argv[1])
