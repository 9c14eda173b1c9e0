"""Hostile: tries to reach the outside (a listener on the host, the internet, DNS).
Prints BREACH and exits 0 if anything gets through; else prints CONTAINED and fails."""

import os
import socket
import sys

TARGETS = []  # FILL: [host, port] pairs


def attempts():
    for host, port in [*TARGETS, ["1.1.1.1", 53], ["pypi.org", 443]]:
        try:
            with socket.create_connection((host, port), timeout=2) as s:
                s.sendall(b"exfiltrated\n")
                yield f"{host}:{port} connected"
        except OSError as exc:
            print(f"{host}:{port} {type(exc).__name__}: {exc}", flush=True)
    for host, port in TARGETS:
        if host.startswith("127."):
            continue  # the container's own loopback: a datagram there reaches nobody outside
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.sendto(b"exfiltrated", (host, port))
            yield f"udp to {host}:{port} sent"
        except OSError as exc:
            print(f"udp {host}:{port} {type(exc).__name__}: {exc}", flush=True)


if os.environ.get("RANK", "0") == "0":
    breaches = list(attempts())
    if breaches:
        print("BREACH " + "; ".join(breaches), flush=True)
        sys.exit(0)
    print("CONTAINED: no connection left the sandbox", flush=True)
    sys.exit(1)
