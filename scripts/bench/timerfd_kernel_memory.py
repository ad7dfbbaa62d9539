#!/usr/bin/env python3
"""Kernel memory one idle-timeout timer costs: N timerfds, each on an epoll like Bulwark's,
measured as the growth of the kernel's slab (/proc/meminfo Slab) divided by N. Run it on a
quiet machine; it makes several rounds and prints the median."""
import ctypes
import os
import statistics
import sys

libc = ctypes.CDLL(None, use_errno=True)
CLOCK_MONOTONIC = 1
TFD_NONBLOCK = os.O_NONBLOCK
EPOLL_CTL_ADD = 1


class EpollEvent(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("events", ctypes.c_uint32), ("data", ctypes.c_uint64)]


def slab_bytes():
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("Slab:"):
                return int(line.split()[1]) * 1024
    raise SystemExit("no Slab line in /proc/meminfo")


def one_round(count):
    epoll = libc.epoll_create1(0)
    before = slab_bytes()
    fds = []
    event = EpollEvent(events=1, data=0)
    for index in range(count):
        fd = libc.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK)
        if fd < 0:
            raise SystemExit(f"timerfd_create: {os.strerror(ctypes.get_errno())}")
        event.data = index
        libc.epoll_ctl(epoll, EPOLL_CTL_ADD, fd, ctypes.byref(event))
        fds.append(fd)
    after = slab_bytes()
    for fd in fds:
        os.close(fd)
    os.close(epoll)
    return (after - before) / count


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    rounds = [one_round(count) for _ in range(5)]
    print(f"timerfd + epoll registration: {statistics.median(rounds):.0f} bytes of kernel slab each "
          f"(median of 5 rounds of {count}; rounds: {', '.join(f'{r:.0f}' for r in rounds)})")


main()
