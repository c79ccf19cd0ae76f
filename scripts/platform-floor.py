#!/usr/bin/env python3
"""The timing floor of this machine, below which no client can measure.

Two probes, each without and then with a CPU latency QoS request of 0 us
(`/dev/cpu_dma_latency`, what cyclictest holds while it measures; needs
root):

- sleep: oversleep of a 1 ms `time.sleep` (a timer waking a sleeping thread);
- ping-pong: round trip of one byte over loopback TCP between two processes
  that sleep 5 ms between exchanges (a socket waking a sleeping thread on
  each side: the path of a streamed token from server to client).

Also prints the share of CPU time the hypervisor stole meanwhile
(`/proc/stat`). Used by docs/PERFORMANCE.md ("Client timing vs the
simulator's ground truth"):

    python3 scripts/platform-floor.py [N]      # N samples per probe, default 3000
"""

import os
import socket
import struct
import sys
import time


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def summary(name, xs):
    over = sum(x > 1.0 for x in xs) / len(xs) * 100
    print(
        f"  {name:<10} p50 {pct(xs, 0.5):.3f}  p99 {pct(xs, 0.99):.3f}  "
        f"p99.9 {pct(xs, 0.999):.3f}  max {max(xs):.3f} ms   over 1 ms: {over:.2f} %"
    )


def sleep_probe(n):
    out = []
    for _ in range(n):
        t = time.monotonic()
        time.sleep(0.001)
        out.append((time.monotonic() - t - 0.001) * 1e3)
    return out


def ping_pong(n):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    pid = os.fork()
    if pid == 0:
        conn, _ = srv.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while data := conn.recv(64):
            conn.sendall(data)
        os._exit(0)
    c = socket.create_connection(srv.getsockname())
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    out = []
    for _ in range(n):
        time.sleep(0.005)
        t = time.monotonic()
        c.sendall(b"x")
        c.recv(64)
        out.append((time.monotonic() - t) * 1e3)
    c.close()
    os.waitpid(pid, 0)
    return out


def cpu_ticks():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return sum(fields), fields[7]


def measure(label, n):
    total0, steal0 = cpu_ticks()
    print(label)
    summary("sleep", sleep_probe(n))
    summary("ping-pong", ping_pong(n // 3))
    total1, steal1 = cpu_ticks()
    share = (steal1 - steal0) / max(1, total1 - total0) * 100
    print(f"  stolen by the hypervisor: {share:.2f} % of CPU time")


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    measure("without CPU latency QoS", n)
    try:
        fd = os.open("/dev/cpu_dma_latency", os.O_WRONLY)
        os.write(fd, struct.pack("i", 0))
    except OSError as e:
        print(f"with CPU latency QoS: cannot request it ({e})")
        return
    measure("with CPU latency QoS 0 us", n)
    os.close(fd)


if __name__ == "__main__":
    main()
