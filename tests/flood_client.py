#!/usr/bin/env python3
"""A misbehaving caller for tests/hostile.rs, in a process of its own (the
daemon tells peers apart by process): holds N connections to a Unix
socket, each with one byte of a request sent, reopens every one the daemon
closes, and stops after SECONDS. Prints how many connections it opened.

usage: flood_client.py SOCKET N SECONDS
"""
import resource
import select
import socket
import sys
import time


def main():
    path, n, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, want), hard))
    poller = select.poll()
    socks = {}
    opened = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        while len(socks) < n and time.monotonic() < end:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(1.0)
            try:
                s.connect(path)
                s.send(b"P")
            except OSError:
                s.close()
                time.sleep(0.01)
                break
            s.setblocking(False)
            socks[s.fileno()] = s
            poller.register(s, select.POLLIN | select.POLLHUP | select.POLLERR)
            opened += 1
        for fd, _ in poller.poll(20):
            s = socks.pop(fd, None)
            if s is None:
                continue
            poller.unregister(fd)
            s.close()
    for s in socks.values():
        s.close()
    print(opened)


if __name__ == "__main__":
    main()
