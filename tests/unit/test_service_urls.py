"""Where `interlink run` points each External Service: the producing domain's own address when it runs in the
same process, unless configuration says otherwise; said in the log, with a warning when a credential is missing.
"""

from __future__ import annotations

import logging

import pytest
from examples.bank import customer, loan_request, risk_assessment

from interlink.runtime.http import HttpEndpoint, local_service_urls, log_services


def test_a_producer_in_this_process_is_fetched_here() -> None:
    """customer served on 0.0.0.0:9000 with its consumers: they fetch from 127.0.0.1:9000/customer."""
    urls = local_service_urls([customer, loan_request, risk_assessment], HttpEndpoint("0.0.0.0", 9000), environ={})
    assert urls == {"customer": "http://127.0.0.1:9000/customer"}


def test_configuration_and_absence_leave_the_default_alone() -> None:
    """INTERLINK_SERVICE_CUSTOMER_URL wins; without --http, or without the producer here, nothing is set."""
    environ = {"INTERLINK_SERVICE_CUSTOMER_URL": "http://customer.internal:8000"}
    assert local_service_urls([customer, loan_request], HttpEndpoint("127.0.0.1", 9000), environ=environ) == {}
    assert local_service_urls([customer, loan_request], None, environ={}) == {}
    assert local_service_urls([loan_request], HttpEndpoint("127.0.0.1", 9000), environ={}) == {}


def test_start_up_log_names_url_and_origin_and_warns_without_credential(caplog: pytest.LogCaptureFixture) -> None:
    """Each service's URL and where it came from is logged; with authentication on, a missing credential warns."""
    environ = {"INTERLINK_SERVICE_CUSTOMER_URL": "http://app:pw@customer.internal:8000"}
    with caplog.at_level(logging.INFO, logger="interlink.runtime"):
        log_services([loan_request], {}, authenticated=True, environ=environ)
    messages = [r.getMessage() for r in caplog.records]
    assert (
        "loan-request: external service 'customer' at http://customer.internal:8000 "
        "(from INTERLINK_SERVICE_CUSTOMER_URL)" in messages
    ), messages
    assert any("has no credential" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    assert not any("pw" in m for m in messages), "no password in the log"
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="interlink.runtime"):
        log_services(
            [loan_request], {}, authenticated=True, environ={**environ, "INTERLINK_SERVICE_CUSTOMER_TOKEN": "t"}
        )
    assert not any("no credential" in r.getMessage() for r in caplog.records)
