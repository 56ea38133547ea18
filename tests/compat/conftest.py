"""Start a real `casement serve` for the boto3 and AWS CLI tests."""

import os
import re
import subprocess
import tempfile

import boto3
import botocore.config
import pytest

AKID = "AKIDPYTHONTEST000001"
SECRET = "python-test-secret"
ACCOUNT = "444455556666"
REGION = "us-west-2"


def _binary():
    explicit = os.environ.get("CASEMENT_BIN")
    if explicit:
        return explicit
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "target"))
    return os.path.join(target, "debug", "casement")


class Server:
    def __init__(self, *extra):
        self.dir = tempfile.TemporaryDirectory()
        env = dict(os.environ, CASEMENT_ACCESS_KEY_ID=AKID, CASEMENT_SECRET_ACCESS_KEY=SECRET,
                   CASEMENT_ACCOUNT_ID=ACCOUNT, CASEMENT_LOG="warn",
                   # The engine's AWS clients (Lambda, Step Functions) use the standard chain.
                   AWS_ACCESS_KEY_ID="AKIDFAKEAWS", AWS_SECRET_ACCESS_KEY="fake-aws-secret",
                   AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/dev/null",
                   AWS_SHARED_CREDENTIALS_FILE="/dev/null")
        self.proc = subprocess.Popen(
            [_binary(), "serve", "--listen", "127.0.0.1:0", "--data-dir", self.dir.name, *extra],
            stdout=subprocess.PIPE, env=env, text=True)
        for line in self.proc.stdout:
            m = re.match(r"casement listening on (http://\S+)", line)
            if m:
                self.endpoint = m.group(1)
                break
        else:
            raise RuntimeError("casement exited before listening")

    def client(self, validate=True, **kw):
        cfg = botocore.config.Config(parameter_validation=validate, retries={"max_attempts": 1})
        return boto3.client("ssm", endpoint_url=self.endpoint, region_name=kw.get("region", REGION),
                            aws_access_key_id=kw.get("akid", AKID),
                            aws_secret_access_key=kw.get("secret", SECRET), config=cfg)

    def cli_env(self):
        return dict(os.environ, AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SECRET,
                    AWS_DEFAULT_REGION=REGION, AWS_PAGER="", AWS_CONFIG_FILE="/dev/null",
                    AWS_SHARED_CREDENTIALS_FILE="/dev/null")

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.dir.cleanup()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.stop()


@pytest.fixture
def ssm(server):
    return server.client()
