#!/usr/bin/env python3
"""Connection exhaustion (bench/connections.sh): a server limited to 256 file
descriptors is held by 400 silent sockets and 200 half-sent request heads; how long
until a real client is answered, and how fast it is answered while the hogs keep
coming back.

usage: connections.py ENDPOINT HEADER_TIMEOUT_S
"""
import socket
import sys
import threading
import time

import boto3
import botocore.config

endpoint, header_timeout = sys.argv[1], float(sys.argv[2])
host, port = endpoint.replace("http://", "").split(":")
cfg = botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=60, read_timeout=60)
ssm = boto3.client("ssm", endpoint_url=endpoint, config=cfg)
ssm.describe_maintenance_windows()  # warm

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
        except OSError:
            time.sleep(0.05)


threads = [threading.Thread(target=hog, args=(i < 200,), daemon=True) for i in range(600)]
for t in threads:
    t.start()
time.sleep(1.0)
t0 = time.time()
first = None
latencies = []
while time.time() - t0 < 30:
    s = time.time()
    try:
        ssm.describe_maintenance_windows()
        latencies.append(time.time() - s)
        if first is None:
            first = time.time() - t0
    except Exception as e:  # noqa: BLE001 - any failure counts as not answered
        print(f"request failed: {e}", flush=True)
stop = True
latencies.sort()
p = lambda q: latencies[min(len(latencies) - 1, int(q * (len(latencies) - 1)))] * 1000
print(f"RESULT connections-exhaustion hogs=600 fd_limit=256 header_timeout_s={header_timeout} "
      f"first_answer_s={first:.2f} answered={len(latencies)} in 30 s "
      f"p50_ms={p(0.5):.0f} p99_ms={p(0.99):.0f} max_ms={latencies[-1]*1000:.0f}")
