#!/usr/bin/env python3
"""GCS XML-API -> JSON-API translating proxy in front of fake-gcs-server (test infrastructure).

object_store's GCS client writes through the XML API (PUT /{bucket}/{object}, XML multipart
uploads, PUT with x-goog-copy-source), which fake-gcs-server does not implement. This proxy
translates exactly those requests to fake-gcs-server's JSON API and passes every other request
(GET, HEAD, DELETE, XML list) through unchanged except for the Host header.

It owns: request translation and the in-memory buffer of multipart parts (one upload = one
buffered object; keep test objects small). It must not: listen on anything but loopback, or
store anything on disk.

Usage: gcs_xml_proxy.py --listen-port P --upstream-port U [--host 127.0.0.1]
Python 3.8+ standard library only.
"""

import argparse
import hashlib
import http.client
import json
import re
import socket
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit
from xml.sax.saxutils import escape as xml_escape

CHUNK = 1 << 20

# upload id -> {"bucket", "object", "content_type", "parts": {part_number: (etag, bytes)}}
UPLOADS = {}
UPLOADS_LOCK = threading.Lock()


class ProxyError(Exception):
    """An error answered to the client with an XML error body."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def get_request(self):
        sock, addr = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sai3-gcs-xml-proxy"
    upstream_host = "127.0.0.1"
    upstream_port = 4443
    verbose = False

    # ----- plumbing -------------------------------------------------------------------------

    def log_message(self, fmt, *args):
        if self.verbose:
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def upstream(self):
        conn = getattr(self, "_upstream", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=60)
            conn.connect()
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._upstream = conn
        return conn

    def call_upstream(self, method, path, body=None, headers=None):
        """One upstream request on this handler's kept-alive connection; retried once on a
        connection that the upstream closed meanwhile. Returns the open response."""
        hdrs = dict(headers or {})
        hdrs["Host"] = "%s:%d" % (self.upstream_host, self.upstream_port)
        for attempt in (0, 1):
            try:
                conn = self.upstream()
                conn.request(method, path, body=body, headers=hdrs)
                return conn.getresponse()
            except (http.client.HTTPException, OSError) as err:
                self._close_upstream()
                if attempt == 1:
                    raise ProxyError(
                        502,
                        "BadGateway",
                        "fake-gcs-server at %s:%d did not answer: %s"
                        % (self.upstream_host, self.upstream_port, err),
                    )
        raise AssertionError("unreachable")

    def _close_upstream(self):
        conn = getattr(self, "_upstream", None)
        if conn is not None:
            conn.close()
        self._upstream = None

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status, body=b"", headers=None):
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def reply_error(self, err):
        body = (
            "<?xml version='1.0' encoding='UTF-8'?><Error><Code>%s</Code><Message>%s</Message></Error>"
            % (xml_escape(err.code), xml_escape(err.message))
        ).encode()
        self.reply(err.status, body, {"Content-Type": "application/xml"})

    def split_target(self):
        """Returns (bucket, object name or None, query dict) of an XML-API request path."""
        parts = urlsplit(self.path)
        path = parts.path.lstrip("/")
        bucket, _, obj = path.partition("/")
        query = parse_qs(parts.query, keep_blank_values=True)
        return unquote(bucket), (unquote(obj) if obj else None), query

    # ----- dispatch -------------------------------------------------------------------------

    def handle_any(self):
        try:
            bucket, obj, query = self.split_target()
            route = self.route(bucket, obj, query)
            if route is None:
                self.pass_through()
            else:
                route()
        except ProxyError as err:
            self.reply_error(err)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def route(self, bucket, obj, query):
        if obj is None or self.path.startswith(("/storage/", "/upload/", "/download/")):
            return None
        if self.command == "PUT" and "uploadId" in query and "partNumber" in query:
            return lambda: self.put_part(query)
        if self.command == "PUT" and self.headers.get("x-goog-copy-source"):
            return lambda: self.copy_object(bucket, obj)
        if self.command == "PUT" and not query:
            return lambda: self.put_object(bucket, obj)
        if self.command == "POST" and "uploads" in query:
            return lambda: self.initiate(bucket, obj)
        if self.command == "POST" and "uploadId" in query:
            return lambda: self.complete(bucket, obj, query)
        if self.command == "DELETE" and "uploadId" in query:
            return lambda: self.abort(query)
        return None

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = handle_any

    # ----- translations ---------------------------------------------------------------------

    def check_generation_match(self, bucket, obj):
        """Honours x-goog-if-generation-match (0 = must not exist), which fake-gcs-server's media
        upload ignores. Check-then-write: good enough for tests, not atomic."""
        want = self.headers.get("x-goog-if-generation-match")
        if want is None:
            return
        resp = self.call_upstream("HEAD", "/%s/%s" % (quote(bucket, safe=""), quote(obj, safe="")))
        resp.read()
        current = resp.getheader("x-goog-generation") if resp.status == 200 else None
        if (want == "0" and current is not None) or (want != "0" and current != want):
            raise ProxyError(412, "PreconditionFailed", "generation of %s/%s is %s, not %s"
                             % (bucket, obj, current or "absent", want))

    def media_upload(self, bucket, obj, data, content_type):
        path = "/upload/storage/v1/b/%s/o?uploadType=media&name=%s" % (
            quote(bucket, safe=""),
            quote(obj, safe=""),
        )
        resp = self.call_upstream("POST", path, data, {"Content-Type": content_type})
        body = resp.read()
        if resp.status != 200:
            raise ProxyError(resp.status, "UpstreamError", body.decode("utf-8", "replace"))
        meta = json.loads(body)
        return meta.get("etag", ""), str(meta.get("generation", ""))

    def put_object(self, bucket, obj):
        data = self.read_body()
        self.check_generation_match(bucket, obj)
        ctype = self.headers.get("Content-Type", "application/octet-stream")
        etag, generation = self.media_upload(bucket, obj, data, ctype)
        self.reply(200, b"", {"ETag": '"%s"' % etag, "x-goog-generation": generation})

    def copy_object(self, bucket, obj):
        self.read_body()
        source = unquote(self.headers["x-goog-copy-source"].lstrip("/"))
        src_bucket, _, src_obj = source.partition("/")
        self.check_generation_match(bucket, obj)
        path = "/storage/v1/b/%s/o/%s/copyTo/b/%s/o/%s" % (
            quote(src_bucket, safe=""),
            quote(src_obj, safe=""),
            quote(bucket, safe=""),
            quote(obj, safe=""),
        )
        resp = self.call_upstream("POST", path, b"", {"Content-Length": "0"})
        body = resp.read()
        if resp.status != 200:
            code = "NoSuchKey" if resp.status == 404 else "UpstreamError"
            raise ProxyError(resp.status, code, body.decode("utf-8", "replace"))
        meta = json.loads(body)
        xml = "<CopyObjectResult><ETag>%s</ETag></CopyObjectResult>" % xml_escape(meta.get("etag", ""))
        self.reply(200, xml.encode(), {"Content-Type": "application/xml",
                                       "x-goog-generation": str(meta.get("generation", ""))})

    def initiate(self, bucket, obj):
        self.read_body()
        upload_id = uuid.uuid4().hex
        with UPLOADS_LOCK:
            UPLOADS[upload_id] = {
                "bucket": bucket,
                "object": obj,
                "content_type": self.headers.get("Content-Type", "application/octet-stream"),
                "parts": {},
            }
        xml = (
            "<?xml version='1.0' encoding='UTF-8'?><InitiateMultipartUploadResult>"
            "<Bucket>%s</Bucket><Key>%s</Key><UploadId>%s</UploadId>"
            "</InitiateMultipartUploadResult>" % (xml_escape(bucket), xml_escape(obj), upload_id)
        )
        self.reply(200, xml.encode(), {"Content-Type": "application/xml"})

    def upload_of(self, query):
        upload_id = query["uploadId"][0]
        with UPLOADS_LOCK:
            upload = UPLOADS.get(upload_id)
        if upload is None:
            raise ProxyError(404, "NoSuchUpload", "no multipart upload with id %s" % upload_id)
        return upload_id, upload

    def put_part(self, query):
        data = self.read_body()
        _, upload = self.upload_of(query)
        number = int(query["partNumber"][0])
        etag = hashlib.md5(data).hexdigest()
        with UPLOADS_LOCK:
            upload["parts"][number] = (etag, data)
        self.reply(200, b"", {"ETag": '"%s"' % etag})

    def complete(self, bucket, obj, query):
        listing = self.read_body().decode("utf-8", "replace")
        upload_id, upload = self.upload_of(query)
        wanted = re.findall(
            r"<Part>\s*<PartNumber>(\d+)</PartNumber>\s*<ETag>([^<]*)</ETag>|"
            r"<Part>\s*<ETag>([^<]*)</ETag>\s*<PartNumber>(\d+)</PartNumber>",
            listing,
        )
        chunks = []
        for num_a, etag_a, etag_b, num_b in wanted:
            number, etag = int(num_a or num_b), (etag_a or etag_b).strip('"')
            part = upload["parts"].get(number)
            if part is None or part[0] != etag:
                raise ProxyError(400, "InvalidPart", "part %d of upload %s is missing or has another ETag"
                                 % (number, upload_id))
            chunks.append(part[1])
        if not chunks:
            raise ProxyError(400, "MalformedXML", "the part list of upload %s is empty" % upload_id)
        etag, generation = self.media_upload(bucket, obj, b"".join(chunks), upload["content_type"])
        with UPLOADS_LOCK:
            UPLOADS.pop(upload_id, None)
        xml = (
            "<?xml version='1.0' encoding='UTF-8'?><CompleteMultipartUploadResult>"
            "<Bucket>%s</Bucket><Key>%s</Key><ETag>%s</ETag></CompleteMultipartUploadResult>"
            % (xml_escape(bucket), xml_escape(obj), xml_escape('"%s"' % etag))
        )
        self.reply(200, xml.encode(), {"Content-Type": "application/xml", "x-goog-generation": generation})

    def abort(self, query):
        self.read_body()
        upload_id, _ = self.upload_of(query)
        with UPLOADS_LOCK:
            UPLOADS.pop(upload_id, None)
        self.reply(204)

    def pass_through(self):
        body = self.read_body()
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "connection", "transfer-encoding", "keep-alive")}
        if body or self.command in ("PUT", "POST", "PATCH"):
            headers["Content-Length"] = str(len(body))
        resp = self.call_upstream(self.command, self.path, body or None, headers)
        self.send_response(resp.status, resp.reason)
        length = resp.getheader("Content-Length")
        for key, value in resp.getheaders():
            if key.lower() not in ("connection", "transfer-encoding", "keep-alive", "content-length", "date"):
                self.send_header(key, value)
        if self.command == "HEAD" or resp.status in (204, 304):
            if length is not None:
                self.send_header("Content-Length", length)
            self.end_headers()
            resp.read()
            return
        if length is None:
            data = resp.read()
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_header("Content-Length", length)
        self.end_headers()
        while True:
            data = resp.read(CHUNK)
            if not data:
                break
            self.wfile.write(data)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="listen address (loopback only)")
    parser.add_argument("--listen-port", type=int, required=True)
    parser.add_argument("--upstream-port", type=int, required=True, help="fake-gcs-server's port")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args()
    if not args.host.startswith("127."):
        parser.error("--host must be a loopback address (127.0.0.0/8), got %s" % args.host)
    Handler.upstream_port = args.upstream_port
    Handler.verbose = args.verbose
    server = Server((args.host, args.listen_port), Handler)
    sys.stderr.write("gcs_xml_proxy listening on %s:%d -> fake-gcs-server 127.0.0.1:%d\n"
                     % (args.host, args.listen_port, args.upstream_port))
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
