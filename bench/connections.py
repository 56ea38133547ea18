#!/usr/bin/env python3
"""Connection exhaustion (bench/connections.sh): a server limited to 256 file
descriptors is held by 400 silent sockets and 200 half-sent request heads that reconnect
whenever the server closes them; for 60 s a client makes one request after another,
each on a new connection: how long until the first is answered, and how long each takes.

usage: connections.py ENDPOINT HEADER_TIMEOUT_S [once]   (once: the hogs do not reconnect)
"""
import socket
import sys
import threading
import time


endpoint, header_timeout = sys.argv[1], float(sys.argv[2])
once = len(sys.argv) > 3 and sys.argv[3] == "once"
host, port = endpoint.replace("http://", "").split(":")

stop = False


def hog(half):
    """Hold a connection; when the server closes it, open another."""
    while not stop:
        try:
            s = socket.create_connection((host, int(port)), timeout=120)
            if half:
                s.sendall(b"POST / HTTP/1.1\r\nHost: casement\r\nX-Amz-")
            s.recv(1)  # blocks until the server closes it
            s.close()
            if once:
                return
        except OSError:
            time.sleep(0.05)


threads = [threading.Thread(target=hog, args=(i < 200,), daemon=True) for i in range(600)]
for t in threads:
    t.start()
time.sleep(1.0)
t0 = time.time()
first = None
latencies = []


def fresh_request():
    """GET /health on a new connection: what a client that is not already connected meets."""
    with socket.create_connection((host, int(port)), timeout=60) as c:
        c.sendall(b"GET /health HTTP/1.1\r\nHost: casement\r\nConnection: close\r\n\r\n")
        answer = c.recv(64)
        if not answer.startswith(b"HTTP/1.1 200"):
            raise OSError(f"unexpected answer {answer!r}")


while time.time() - t0 < 60:
    s = time.time()
    try:
        fresh_request()
        latencies.append(time.time() - s)
        if first is None:
            first = time.time() - t0
    except OSError as e:
        print(f"request failed: {e}", flush=True)
stop = True
latencies.sort()
if not latencies:
    print("RESULT connections-exhaustion hogs=600 fd_limit=256 first_answer_s=never answered=0 in 60 s")
    sys.exit(1)
p = lambda q: latencies[min(len(latencies) - 1, int(q * (len(latencies) - 1)))] * 1000
print(f"RESULT connections-exhaustion{'-once' if once else ''} hogs=600 fd_limit=256 header_timeout_s={header_timeout} "
      f"first_answer_s={first:.2f} answered={len(latencies)} in 60 s (each on a new connection) "
      f"p50_ms={p(0.5):.0f} p99_ms={p(0.99):.0f} max_ms={latencies[-1]*1000:.0f}")
