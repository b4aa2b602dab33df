"""smoke-test: POST a sample request to a scoring URI (a local or an Azure service) and report status and latency."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mlops_ci.context import Context, TaskResult
from mlops_ci.deploy import read_json_text
from mlops_ci.errors import InputError
from mlops_ci.inputs import Inputs
from mlops_ci.scoring import NO_EXPECTATION, smoke_test


@dataclass(frozen=True)
class Options:
    sample: str
    count: int
    timeout_s: float
    scoring_uri: str = ""
    service_name: str = ""
    key: str = field(default="", repr=False)
    expected: Any = NO_EXPECTATION

    @classmethod
    def from_inputs(cls, inputs: Inputs, ctx: Context) -> Options:
        uri = inputs.text("scoring-uri")
        service = inputs.name("service-name", required=False)
        if not uri and not service:
            raise InputError("scoring-uri", "smoke-test needs 'scoring-uri' or 'service-name'.",
                             fix="Give the scoring URI (with scoring-key), or the service name to look both up.")
        if uri and not uri.startswith(("http://", "https://")):
            raise InputError("scoring-uri", "Input 'scoring-uri' must start with http:// or https://.",
                             fix="Use the scoring-uri output of deploy-aci or promote-aks.")
        sample_path = inputs.path("sample-request", kind="file")
        assert sample_path is not None
        expected = NO_EXPECTATION
        if inputs.given("expected-response"):
            expected_path = inputs.path("expected-response", kind="file")
            assert expected_path is not None
            expected = json.loads(read_json_text("expected-response", expected_path))
        return cls(sample=read_json_text("sample-request", sample_path),
                   count=inputs.integer("requests-count", minimum=1, maximum=10_000),
                   timeout_s=inputs.number("timeout-minutes", minimum=0.1) * 60, scoring_uri=uri,
                   service_name=service, key=inputs.text("scoring-key"), expected=expected)


def run(options: Options, ctx: Context) -> TaskResult:
    uri, key = options.scoring_uri, options.key
    if options.service_name and (not uri or not key):
        service = ctx.backend.get_service(options.service_name)
        uri = uri or service.scoring_uri
        if not key and service.auth_mode == "key":
            key = ctx.backend.get_service_keys(service.name).primary
        elif not key and service.auth_mode == "token":
            key = ctx.backend.get_service_token(service.name).token
    ctx.runner.mask(key)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    ctx.runner.info(f"POST {uri} × {options.count}")
    result = smoke_test(uri, options.sample, headers, count=options.count, timeout=options.timeout_s,
                        expected=options.expected)
    shown = result.response.replace("```", "'''")
    return TaskResult(
        outputs={
            "status-code": str(result.status_code),
            "response": result.response,
            "latency-p50-ms": f"{result.p50:.2f}",
            "latency-p95-ms": f"{result.p95:.2f}",
        },
        done=(f"`{uri}` answered HTTP {result.status_code} to {options.count} request(s): "
              f"p50 {result.p50:.1f} ms, p95 {result.p95:.1f} ms"
              + (", response as expected." if options.expected is not NO_EXPECTATION else ".")),
        details=f"<details><summary>response</summary>\n\n```json\n{shown}\n```\n\n</details>",
    )
