"""A loopback TCP port for a listener a test or script is about to start.

Ports come from below the kernel's ephemeral range (ip_local_port_range,
32768-60999 by default), never from bind(port 0): the kernel hands ephemeral
ports to every outgoing connection too, and with tests running in parallel
one of those connections took the port between the pick and the listener's
bind (CI, stop 36: "listen.admin: cannot listen on 127.0.0.1:55545: Address
already in use"). Below the range only another pick can collide: picks are
random over some 22,000 ports, and one process never hands out a port twice.

As a script (for the shell scripts): `free_port.py [--bus OFFSET]` prints one.
"""

import random
import socket
import sys

_LOWEST = 10000
_given = set()
_random = random.SystemRandom()  # forked processes must not share a seed


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port(bus=0):
    """A port nothing is bound to on 127.0.0.1, as is `port + bus` when `bus`
    is set (a Redis Cluster node's bus port is 10,000 above its own)."""
    high = _ephemeral_low() - bus
    for _ in range(1000):
        port = _random.randrange(_LOWEST, high) if high > _LOWEST + 100 else _kernel_port(bus)
        if not port or port in _given or not _bindable(port) or (bus and not _bindable(port + bus)):
            continue
        _given.add(port)
        return port
    raise RuntimeError(f"free_port: no free port in {_LOWEST}-{high}")


def _kernel_port(bus):
    # An ephemeral range starting this low leaves nothing below it: fall back
    # to the kernel's pick.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return port if port + bus <= 65535 else 0


if __name__ == "__main__":
    offset = int(sys.argv[2]) if len(sys.argv) == 3 and sys.argv[1] == "--bus" else 0
    print(free_port(offset))
