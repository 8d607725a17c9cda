"""The sandbox's fault console and `--fault` flag refuse values no real answer could have, over real HTTP.

A refused PUT answers 422 with the reason and installs nothing: the faults in place stay, and the API keeps
answering as before. A refused flag stops the sandbox before it serves, exit status 2, the reason on stderr.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import API_KEY, SandboxServer, start_sandbox

pytestmark = pytest.mark.e2e

METADATA = "/re_700000000000000001/metadata"
INSTALLED = {"metadata": [{"kind": "latency", "seconds": 0.0, "count": 5}]}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    server = start_sandbox("--no-rate-limit")
    yield server
    server.process.stop()


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"kind": "status", "status": 99}, "status must be an HTTP status from 100 to 599, got 99"),
        ({"kind": "status", "status": 1000}, "status must be an HTTP status from 100 to 599, got 1000"),
        ({"kind": "status_after", "status": -5}, "status must be an HTTP status from 100 to 599, got -5"),
        ({"kind": "status", "status": "teapot"}, "status must be a whole number, got 'teapot'"),
        ({"kind": "status", "status": 503.5}, "status must be a whole number, got 503.5"),
        ({"kind": "latency", "seconds": -1}, "seconds must be a finite number >= 0, got -1.0"),
        ({"kind": "timeout", "seconds": "NaN"}, "seconds must be a finite number >= 0, got nan"),
        ({"kind": "slow", "seconds": "inf"}, "seconds must be a finite number >= 0, got inf"),
        ({"kind": "latency", "seconds": True}, "seconds must be a number, got True"),
        ({"kind": "status", "count": 0}, "count must be >= 1 (leave it out for every request), got 0"),
        ({"kind": "status", "count": -3}, "count must be >= 1 (leave it out for every request), got -3"),
        ({"kind": "truncated", "keep": "half"}, "keep must be a whole number, got 'half'"),
        ({"kind": "explode"}, "unknown fault kind 'explode'"),
        ("status", "a fault is a JSON object with a kind, got 'status'"),
    ],
)
def test_an_invalid_fault_value_is_refused_with_422_and_the_reason_and_nothing_is_installed(
    sandbox: SandboxServer, fault: Any, reason: str
) -> None:
    with sandbox.admin() as http:
        installed = http.put("/_sandbox/faults", json=INSTALLED).json()
        assert installed["metadata"][0]["count"] == 5
        refused = http.put("/_sandbox/faults", json={"metadata": [{"kind": "reset"}], "*": [fault]})
        assert refused.status_code == 422
        assert reason in refused.json()["error"]
        assert http.get("/_sandbox/faults").json() == installed
        answer = http.get(METADATA, headers={"Authorization": API_KEY})
        assert answer.status_code == 200
        assert answer.json()["data"]["resource"][0]["upload_status"] == "SUCCESS"
        http.delete("/_sandbox/faults")


def test_a_nan_in_the_json_body_itself_is_refused_too(sandbox: SandboxServer) -> None:
    with sandbox.admin() as http:
        refused = http.put(
            "/_sandbox/faults",
            content=b'{"metadata": [{"kind": "latency", "seconds": NaN}]}',
            headers={"Content-Type": "application/json"},
        )
        assert refused.status_code == 422
        assert refused.json() == {"error": "seconds must be a finite number >= 0, got nan"}
        assert http.get("/_sandbox/faults").json() == {}


def test_faults_that_are_not_a_list_are_refused_with_422_naming_the_endpoint(sandbox: SandboxServer) -> None:
    with sandbox.admin() as http:
        refused = http.put("/_sandbox/faults", json={"metadata": {"kind": "reset"}})
        assert refused.status_code == 422
        assert refused.json()["error"].startswith("faults for 'metadata' must be a JSON list")


def test_valid_edge_values_are_installed_as_given(sandbox: SandboxServer) -> None:
    edges = {"metadata": [{"kind": "status", "status": 100, "count": 1}, {"kind": "latency", "seconds": 0}]}
    with sandbox.admin() as http:
        put = http.put("/_sandbox/faults", json=edges)
        assert put.status_code == 200
        assert [(f["status"], f.get("count"), f["seconds"]) for f in put.json()["metadata"]] == [
            (100, 1, 1.0),
            (500, None, 0.0),
        ]
        http.delete("/_sandbox/faults")


@pytest.mark.parametrize(
    ("flag", "reason"),
    [
        ("metadata:status:status=99", "status must be an HTTP status from 100 to 599, got 99"),
        ("metadata:latency:seconds=nan", "seconds must be a finite number >= 0, got nan"),
        ("metadata:status:count=0", "count must be >= 1"),
    ],
)
def test_an_invalid_fault_flag_stops_the_sandbox_with_status_2_and_the_reason(flag: str, reason: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mavi_mcp.sandbox", "--port", "0", "--fault", flag],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert reason in done.stderr.decode()
    assert b"listening" not in done.stderr
