#!/usr/bin/env python3
"""Write a wrk Lua script that replays one SigV4-signed SSM request.

Signed by botocore exactly as boto3 signs, so the server verifies a real client's
signature on every replay (SigV4 has no nonce: a signature stays valid for the 5-minute
skew window, which covers a benchmark run).

usage: signed_request.py ENDPOINT OPERATION JSON_BODY OUT.lua
"""
import os
import sys

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

endpoint, op, body, out = sys.argv[1:5]
req = AWSRequest(method="POST", url=endpoint + "/", data=body.encode(), headers={
    "Content-Type": "application/x-amz-json-1.1",
    "X-Amz-Target": f"AmazonSSM.{op}",
})
creds = Credentials(os.environ["CASEMENT_ACCESS_KEY_ID"], os.environ["CASEMENT_SECRET_ACCESS_KEY"])
SigV4Auth(creds, "ssm", os.environ.get("AWS_DEFAULT_REGION", "us-east-1")).add_auth(req)


def lua(s):
    return "[==[" + s + "]==]"


with open(out, "w") as f:
    f.write('wrk.method = "POST"\n')
    f.write(f"wrk.body = {lua(body)}\n")
    for k, v in req.headers.items():
        if k.lower() == "host":
            continue  # wrk sends the URL's host:port, which is what was signed
        f.write(f"wrk.headers[ {lua(k)} ] = {lua(v)}\n")
    f.write("""
done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  local bad = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT requests=%d rps=%.0f p50_ms=%.3f p99_ms=%.3f errors=%d\\n",
    summary.requests, summary.requests / secs, latency:percentile(50) / 1000, latency:percentile(99) / 1000, bad))
end
""")
