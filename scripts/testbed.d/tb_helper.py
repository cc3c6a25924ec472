#!/usr/bin/env python3
"""Small helpers for scripts/testbed: readiness polling and first-time setup of the servers.

It owns: waiting for a port or HTTP endpoint (with a deadline and an error naming the server and
its log), creating the Azurite container (SharedKey-signed), creating the fake-gcs-server bucket,
and hashing the test user's password. It must not: talk to anything but loopback, or start or
stop processes (scripts/testbed does that). Python 3.8+ standard library only.

Subcommands (exit 0 on success, 1 with a message on stderr otherwise):
  wait-tcp NAME PORT TIMEOUT_S LOG PID
  wait-http NAME URL TIMEOUT_S LOG PID       any HTTP answer counts as ready
  az-container PORT ACCOUNT KEY_B64 CONTAINER
  gcs-bucket PORT BUCKET
  crypt PASSWORD                             prints a SHA-512 crypt(3) hash
"""

import base64
import hashlib
import hmac
import http.client
import os
import socket
import sys
import time
from email.utils import formatdate


def fail(msg):
    sys.stderr.write("testbed: %s\n" % msg)
    sys.exit(1)


def tail(log, lines=15):
    try:
        with open(log, "rb") as fh:
            text = fh.read()[-4000:].decode("utf-8", "replace")
        return "\n".join(text.splitlines()[-lines:])
    except OSError:
        return "(no log)"


def alive(pid):
    """True while PID exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def wait(name, probe, timeout_s, log, pid, where):
    deadline = time.monotonic() + timeout_s
    delay = 0.02
    last = "no answer"
    while time.monotonic() < deadline:
        if not alive(pid):
            fail("%s (pid %d) exited before it answered on %s; its log %s ends with:\n%s"
                 % (name, pid, where, log, tail(log)))
        try:
            probe()
            return
        except (OSError, http.client.HTTPException) as err:
            last = str(err) or type(err).__name__
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)
    fail("%s did not answer on %s within %ss (last error: %s); see its log %s:\n%s"
         % (name, where, timeout_s, last, log, tail(log)))


def cmd_wait_tcp(name, port, timeout_s, log, pid):
    def probe():
        socket.create_connection(("127.0.0.1", int(port)), timeout=1).close()

    wait(name, probe, float(timeout_s), log, int(pid), "127.0.0.1:%s" % port)


def cmd_wait_http(name, url, timeout_s, log, pid):
    host_port = url.split("//", 1)[1].split("/", 1)[0]
    path = "/" + url.split("//", 1)[1].partition("/")[2]
    host, port = host_port.rsplit(":", 1)

    def probe():
        conn = http.client.HTTPConnection(host, int(port), timeout=2)
        try:
            conn.request("GET", path)
            conn.getresponse().read()
        finally:
            conn.close()

    wait(name, probe, float(timeout_s), log, int(pid), url)


def cmd_az_container(port, account, key_b64, container):
    """PUT /{account}/{container}?restype=container signed with SharedKey; 201 or 409 is fine."""
    date = formatdate(usegmt=True)
    version = "2021-10-04"
    ctype = "application/octet-stream"
    canon_headers = "x-ms-date:%s\nx-ms-version:%s\n" % (date, version)
    canon_resource = "/%s/%s/%s\nrestype:container" % (account, account, container)
    to_sign = "PUT\n\n\n\n\n%s\n\n\n\n\n\n\n%s%s" % (ctype, canon_headers, canon_resource)
    sig = base64.b64encode(
        hmac.new(base64.b64decode(key_b64), to_sign.encode(), hashlib.sha256).digest()
    ).decode()
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
    conn.request(
        "PUT",
        "/%s/%s?restype=container" % (account, container),
        body=b"",
        headers={
            "x-ms-date": date,
            "x-ms-version": version,
            "Content-Type": ctype,
            "Content-Length": "0",
            "Authorization": "SharedKey %s:%s" % (account, sig),
        },
    )
    resp = conn.getresponse()
    body = resp.read().decode("utf-8", "replace")
    if resp.status not in (201, 409):
        fail("creating Azure container %s on azurite 127.0.0.1:%s failed: HTTP %d %s"
             % (container, port, resp.status, body[:500]))


def cmd_gcs_bucket(port, bucket):
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
    conn.request("POST", "/storage/v1/b", body=('{"name": "%s"}' % bucket).encode(),
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    body = resp.read().decode("utf-8", "replace")
    if resp.status not in (200, 409):
        fail("creating GCS bucket %s on fake-gcs-server 127.0.0.1:%s failed: HTTP %d %s"
             % (bucket, port, resp.status, body[:500]))


def cmd_crypt(password):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import crypt  # removed in Python 3.13; scripts/testbed falls back to openssl

            print(crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512)))
            return
        except ImportError:
            pass
    fail("python's crypt module is unavailable")


COMMANDS = {
    "wait-tcp": (cmd_wait_tcp, 5),
    "wait-http": (cmd_wait_http, 5),
    "az-container": (cmd_az_container, 4),
    "gcs-bucket": (cmd_gcs_bucket, 2),
    "crypt": (cmd_crypt, 1),
}


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        fail("usage: tb_helper.py {%s} ARGS..." % ",".join(COMMANDS))
    func, nargs = COMMANDS[sys.argv[1]]
    args = sys.argv[2:]
    if len(args) != nargs:
        fail("%s takes %d arguments, got %d" % (sys.argv[1], nargs, len(args)))
    try:
        func(*args)
    except (OSError, http.client.HTTPException) as err:
        fail("%s failed: %s" % (sys.argv[1], err))


if __name__ == "__main__":
    os.umask(0o022)
    main()
