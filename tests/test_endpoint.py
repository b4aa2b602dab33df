"""The local endpoint: azmlinfsrv behind key or token auth, its own status codes kept, 413 above the body limit."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from mlops_ci.backends.local.auth import MALFORMED, AuthGate, ServiceSecrets, mint_token
from mlops_ci.deployconfig import DeploymentConfig, default_deployment
from mlops_ci.domain import Service, ServiceSpec
from mlops_ci.errors import InputError
from tests.deploy_fixtures import (  # noqa: F401
    SCORE_SCHEMA,
    deployable,
    local_backend,
    no_stray_processes,
)


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False  # loopback only, whatever proxy the environment names
        yield session


@pytest.fixture
def schema_service(local_backend, tmp_path: Path) -> tuple[Service, str, str]:  # noqa: F811
    item = deployable(local_backend, tmp_path / "repo", SCORE_SCHEMA, factor="2")
    service = local_backend.begin_create_or_update_service(
        ServiceSpec("endpoint", (item.model,), item.inference, default_deployment("ACI"))).result(60)
    keys = local_backend.get_service_keys("endpoint")
    return service, keys.primary, keys.secondary


def _post(http: requests.Session, uri: str, body: str | bytes, key: str | None = None,
          content_type: str = "application/json", authorization: str | None = None) -> requests.Response:
    headers = {"Content-Type": content_type}
    if authorization is not None:
        headers["Authorization"] = authorization
    elif key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return http.post(uri, body, headers=headers, timeout=30)


def test_key_auth_and_the_inference_servers_status_codes(schema_service, http: requests.Session) -> None:
    service, primary, secondary = schema_service
    uri = service.scoring_uri
    body = json.dumps({"data": [1, 2]})

    # 401: no header, a wrong key, a malformed header (Azure's wording).
    missing = _post(http, uri, body)
    assert missing.status_code == 401 and "missing" in missing.json()["message"]
    assert _post(http, uri, body, key="not-the-key").status_code == 401
    malformed = _post(http, uri, body, authorization=f"Token {primary}")
    assert (malformed.status_code, malformed.json()["message"]) == (401, MALFORMED)
    assert _post(http, uri, body, authorization="Bearer").json()["message"] == MALFORMED

    # 200 with the primary and the secondary key.
    for key in (primary, secondary):
        ok = _post(http, uri, body, key=key)
        assert (ok.status_code, ok.json()) == (200, {"result": [2.0, 4.0]})

    # The inference server's own answers, unchanged behind the gate.
    assert _post(http, uri, "data", key=primary, content_type="text/plain").status_code == 415
    assert _post(http, uri, "[1, 2]", key=primary).status_code == 400
    assert _post(http, uri, "", key=primary).status_code == 400
    assert http.put(uri, body, headers={"Authorization": f"Bearer {primary}"}, timeout=30).status_code == 405

    # An exception in run(): 500 with x-ms-run-function-failed, and the next request is served.
    failed = _post(http, uri, json.dumps({"data": "fail"}), key=primary)
    assert failed.status_code == 500
    assert failed.headers.get("x-ms-run-function-failed") == "True"
    assert _post(http, uri, body, key=primary).status_code == 200

    # The routes that are not /score need no key: health and swagger.
    base = uri.rsplit("/", 1)[0]
    assert http.get(base + "/", timeout=30).status_code == 200
    swagger = http.get(service.swagger_uri, timeout=30)
    assert swagger.status_code == 200 and "paths" in swagger.json()


def test_oversized_body_gets_413_before_it_is_read(schema_service) -> None:
    service, primary, _ = schema_service
    parts = urlsplit(service.scoring_uri)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as conn:
        conn.sendall((f"POST /score HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {primary}\r\n"
                      "Content-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n").encode())
        reply = conn.recv(4096).decode()
    assert reply.startswith("HTTP/1.1 413")


def test_the_server_keeps_serving_across_many_failures(schema_service, http: requests.Session) -> None:
    service, primary, _ = schema_service
    statuses = [_post(http, service.scoring_uri, json.dumps({"data": "fail" if i % 2 else [1]}), key=primary)
                .status_code for i in range(20)]
    assert statuses == [200, 500] * 10


def test_token_auth_service(local_backend, tmp_path: Path, http: requests.Session) -> None:  # noqa: F811
    item = deployable(local_backend, tmp_path / "repo", factor="3")
    deployment = DeploymentConfig(compute_type="AKS", auth_enabled=False, token_auth_enabled=True, num_replicas=1)
    service = local_backend.begin_create_or_update_service(
        ServiceSpec("tokens", (item.model,), item.inference, deployment)).result(60)
    assert service.auth_mode == "token"
    token = local_backend.get_service_token("tokens")
    assert token.refresh_after > time.time()
    body = json.dumps({"data": [1]})
    assert _post(http, service.scoring_uri, body, key=token.token).json() == {"result": [3.0]}
    forged = token.token[:-2] + ("AA" if not token.token.endswith("AA") else "BB")
    assert _post(http, service.scoring_uri, body, key=forged).status_code == 401
    with pytest.raises(InputError):
        local_backend.get_service_keys("tokens")


@pytest.mark.parametrize(("header", "accepted"), [
    (None, False), ("", False), ("Bearer primary-key", True), ("bearer secondary-key", True),
    ("Bearer  primary-key ", True), ("Bearer primary-key extra", False), ("Basic cHJpbWFyeQ==", False),
    ("Bearer primary-ke", False), ("Bearer primary-keyy", False),
], ids=["none", "empty", "primary", "secondary-lowercase-scheme", "spaces", "extra-word", "basic", "prefix",
        "longer"])
def test_key_check_table(header: str | None, accepted: bool) -> None:
    gate = AuthGate(lambda e, s: [b""], ServiceSecrets("key", "primary-key", "secondary-key"), "svc")
    assert (gate.check(header) == "") is accepted


def test_expired_and_foreign_tokens_are_refused() -> None:
    found = ServiceSecrets.create("token")
    gate = AuthGate(lambda e, s: [b""], found, "svc")
    token, _ = mint_token(found, "svc")
    assert gate.check(f"Bearer {token}") == ""
    expired, _ = mint_token(found, "svc", now=time.time() - 7200)
    assert "expired" in gate.check(f"Bearer {expired}")
    other, _ = mint_token(found, "another-service")
    assert "not valid" in gate.check(f"Bearer {other}")
