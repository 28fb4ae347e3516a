"""`interlink run --workers N`: how the domains are spread over the workers, each worker's ports, and the
External Service URLs pointed at the worker serving the producing domain."""

from __future__ import annotations

import json

import pytest
from examples.bank import customer, loan_request, risk_assessment

from interlink.cli.workers import WORKER_ENV, assignment, shifted, worker_specs
from interlink.exceptions import ConfigurationError
from interlink.runtime.http import HttpEndpoint, service_urls_across


def test_domains_are_spread_round_robin_and_each_worker_knows_its_own() -> None:
    """Three domains over two workers: customer and risk-assessment in worker 0, loan-request in worker 1."""
    specs = worker_specs([customer, loan_request, risk_assessment], 2, None, environ={})
    assert [s.name for s in specs] == ["customer+risk-assessment", "loan-request"]
    found = [assignment({WORKER_ENV: s.env[WORKER_ENV]}) for s in specs]
    assert [(a.index, a.domains) for a in found if a] == [(0, ("customer", "risk-assessment")), (1, ("loan-request",))]
    assert found[1] is not None
    assert found[1].pick([customer, loan_request]) == [loan_request]
    assert assignment({}) is None


def test_more_workers_than_domains_is_refused() -> None:
    """A worker hosts at least one domain."""
    with pytest.raises(ConfigurationError, match="only 2 domains"):
        worker_specs([customer, loan_request], 3, None, environ={})


def test_worker_i_serves_on_port_plus_i() -> None:
    """--http and --metrics HOST:PORT become PORT + index; no option and 'off' stay as they are."""
    assert shifted("127.0.0.1:8000", 0) == "127.0.0.1:8000"
    assert shifted("127.0.0.1:8000", 2) == "127.0.0.1:8002"
    assert shifted("[::1]:9000", 1) == "[::1]:9001"
    assert shifted(None, 1) is None
    assert shifted("off", 1) == "off"


def test_services_point_at_the_worker_serving_the_producer() -> None:
    """customer alone in worker 0 on :8000 is fetched at its root by loan-request in worker 1; the URLs reach
    every worker through INTERLINK_SERVICE_<NAME>_URL."""
    specs = worker_specs([customer, loan_request], 2, "0.0.0.0:8000", environ={})
    assert all(s.env["INTERLINK_SERVICE_CUSTOMER_URL"] == "http://127.0.0.1:8000" for s in specs)
    assert json.loads(specs[1].env[WORKER_ENV])["domains"] == ["loan-request"]
    together = service_urls_across(
        [([loan_request], HttpEndpoint("127.0.0.1", 8000)), ([risk_assessment, customer], HttpEndpoint("::", 8001))],
        environ={},
    )
    assert together == {"customer": "http://[::1]:8001/customer"}
