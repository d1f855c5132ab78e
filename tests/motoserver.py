"""moto's KMS in server mode, on loopback, in a process of its own: the stand-in for AWS KMS.

A test double: it speaks KMS's API over real HTTP (so boto3, its retries and
the wrapper's error mapping are exercised), but proves nothing about IAM or key
policies, real latency, throttling or CloudTrail.
"""

import os
import subprocess
import sys

# Dummy credentials: boto3's chain finds these; moto accepts any.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing-secret-canary-2c9f",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
}
REGION = "eu-west-1"
_SERVER = (
    "from moto.server import ThreadedMotoServer\n"
    "import sys, threading\n"
    "server = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False)\n"
    "server.start()\n"
    "print(server.get_host_and_port()[1], flush=True)\n"
    "sys.stdin.read()\n"  # runs until the test closes its stdin
)


class MotoServer:
    def __init__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-c", _SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, **CREDENTIALS},
        )
        port = self.process.stdout.readline().strip()
        if not port.isdigit():
            self.stop()
            raise RuntimeError("moto's server did not start")
        self.url = f"http://127.0.0.1:{port}"

    def client(self):
        import boto3

        return boto3.client("kms", region_name=REGION, endpoint_url=self.url)

    def stop(self):
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
