"""Fake Azure Blob Storage for the workspace's storage account: block blobs, blocks, HEAD, GET and listing."""

from __future__ import annotations

import base64
import hashlib
import re
import time
import uuid
from email.utils import formatdate
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from .http import Request, Response, Router

if TYPE_CHECKING:
    from .emulator import AzureEmulator

_VERSION = "2021-08-06"


def _storage_error(status: int, code: str, message: str) -> Response:
    body = (f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{escape(message)}\n'
            f"RequestId:{uuid.uuid4()}</Message></Error>").encode()
    return Response(status, body, {"Content-Type": "application/xml", "x-ms-error-code": code,
                                   "x-ms-version": _VERSION})


def _common(extra: dict[str, str] | None = None) -> dict[str, str]:
    headers = {"x-ms-request-id": str(uuid.uuid4()), "x-ms-version": _VERSION, "Date": formatdate(usegmt=True)}
    headers.update(extra or {})
    return headers


def build(emulator: AzureEmulator) -> Router:
    router = Router()
    blobs = emulator.state.blobs
    blocks = emulator.state.uncommitted_blocks

    def authorised(request: Request) -> bool:
        # A SAS signature or a shared-key/bearer header; anonymous access is off in workspace storage.
        return "sig" in request.query or bool(request.header("authorization"))

    def store(key: tuple[str, str], data: bytes, request: Request) -> Response:
        etag = f'"0x{uuid.uuid4().hex[:15].upper()}"'
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
        metadata = {k[len("x-ms-meta-"):]: v for k, v in request.headers.items() if k.startswith("x-ms-meta-")}
        with emulator.lock:
            blobs[key] = {"data": data, "etag": etag, "md5": md5, "metadata": metadata,
                          "content_type": request.header("x-ms-blob-content-type") or "application/octet-stream",
                          "last_modified": formatdate(time.time(), usegmt=True)}
        return Response(201, b"", _common({"ETag": etag, "Last-Modified": blobs[key]["last_modified"],
                                           "Content-MD5": md5, "x-ms-request-server-encrypted": "true"}))

    def put(request: Request, container: str, path: str) -> Response:
        if not authorised(request):
            return _storage_error(403, "NoAuthenticationInformation", "Server failed to authenticate the request.")
        key = (container, path)
        comp = request.query.get("comp")
        if comp == "block":
            with emulator.lock:
                blocks.setdefault(key, {})[request.query["blockid"]] = request.body
            return Response(201, b"", _common({"Content-MD5": base64.b64encode(
                hashlib.md5(request.body).digest()).decode()}))
        if comp == "blocklist":
            ids = re.findall(rb"<(?:Latest|Uncommitted|Committed)>([^<]*)</", request.body)
            with emulator.lock:
                pending = blocks.pop(key, {})
                try:
                    data = b"".join(pending[i.decode()] for i in ids)
                except KeyError:
                    return _storage_error(400, "InvalidBlockList", "The specified block list is invalid.")
            return store(key, data, request)
        if comp in ("metadata", "properties"):
            with emulator.lock:
                blob = blobs.get(key)
                if blob is None:
                    return _storage_error(404, "BlobNotFound", "The specified blob does not exist.")
                if comp == "metadata":
                    blob["metadata"] = {k[len("x-ms-meta-"):]: v for k, v in request.headers.items()
                                        if k.startswith("x-ms-meta-")}
            return Response(200, b"", _common({"ETag": blob["etag"], "Last-Modified": blob["last_modified"]}))
        return store(key, request.body, request)

    def head(request: Request, container: str, path: str) -> Response:
        with emulator.lock:
            blob = blobs.get((container, path))
        if blob is None:
            return Response(404, b"", _common({"x-ms-error-code": "BlobNotFound"}))
        headers = _common({
            "Content-Length": str(len(blob["data"])), "Content-Type": blob["content_type"], "ETag": blob["etag"],
            "Last-Modified": blob["last_modified"], "Content-MD5": blob["md5"], "x-ms-blob-type": "BlockBlob",
            "Accept-Ranges": "bytes", "x-ms-server-encrypted": "true", "x-ms-lease-state": "available",
            "x-ms-lease-status": "unlocked", "x-ms-creation-time": blob["last_modified"],
        })
        headers.update({f"x-ms-meta-{k}": v for k, v in blob["metadata"].items()})
        return Response(200, b"", headers)

    def get(request: Request, container: str, path: str) -> Response:
        with emulator.lock:
            blob = blobs.get((container, path))
        if blob is None:
            return _storage_error(404, "BlobNotFound", "The specified blob does not exist.")
        data = blob["data"]
        headers = _common({"Content-Type": blob["content_type"], "ETag": blob["etag"],
                           "Last-Modified": blob["last_modified"], "x-ms-blob-type": "BlockBlob",
                           "Accept-Ranges": "bytes"})
        ranged = request.header("x-ms-range") or request.header("range")
        match = re.match(r"bytes=(\d+)-(\d*)", ranged)
        if match:
            start = int(match.group(1))
            end = min(int(match.group(2) or len(data) - 1), len(data) - 1)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            return Response(206, data[start:end + 1], headers)
        headers["Content-MD5"] = blob["md5"]
        return Response(200, data, headers)

    def delete(request: Request, container: str, path: str) -> Response:
        with emulator.lock:
            if blobs.pop((container, path), None) is None:
                return _storage_error(404, "BlobNotFound", "The specified blob does not exist.")
        return Response(202, b"", _common())

    def container_ops(request: Request, container: str) -> Response:
        if request.method == "PUT":
            return Response(201, b"", _common({"ETag": '"0x1"', "Last-Modified": formatdate(usegmt=True)}))
        if request.query.get("comp") != "list":
            return Response(200, b"", _common({"ETag": '"0x1"', "Last-Modified": formatdate(usegmt=True)}))
        prefix = request.query.get("prefix", "")
        with emulator.lock:
            found = sorted((p, b) for (c, p), b in blobs.items() if c == container and p.startswith(prefix))
        items = "".join(
            f"<Blob><Name>{escape(p)}</Name><Properties><Last-Modified>{b['last_modified']}</Last-Modified>"
            f"<Etag>{b['etag']}</Etag><Content-Length>{len(b['data'])}</Content-Length>"
            f"<Content-Type>{b['content_type']}</Content-Type><Content-MD5>{b['md5']}</Content-MD5>"
            f"<BlobType>BlockBlob</BlobType><LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState>"
            f"</Properties></Blob>" for p, b in found)
        body = (f'<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint='
                f'"https://{emulator.blob_host}/" ContainerName="{escape(container)}"><Prefix>{escape(prefix)}'
                f"</Prefix><Blobs>{items}</Blobs><NextMarker /></EnumerationResults>").encode()
        return Response(200, body, _common({"Content-Type": "application/xml"}))

    router.add("HEAD", r"/(?P<container>[^/]+)/(?P<path>.+)", head)
    router.add("PUT", r"/(?P<container>[^/]+)/(?P<path>.+)", put)
    router.add("GET", r"/(?P<container>[^/]+)/(?P<path>.+)", get)
    router.add("DELETE", r"/(?P<container>[^/]+)/(?P<path>.+)", delete)
    router.add("GET", r"/(?P<container>[^/]+)/?", container_ops)
    router.add("PUT", r"/(?P<container>[^/]+)/?", container_ops)
    return router
