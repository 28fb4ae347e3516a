"""The reference bank landscape: six service domains integrated through Interlink's patterns.

``DOMAINS`` lists them all; :mod:`examples.bank.day` drives a scripted day through them.
"""

from examples.bank.credit_offer import credit_offer
from examples.bank.customer import customer
from examples.bank.customer_communication import customer_communication
from examples.bank.loan_request import loan_request
from examples.bank.payments import payments
from examples.bank.risk_assessment import risk_assessment

DOMAINS = [customer, loan_request, credit_offer, risk_assessment, customer_communication, payments]

__all__ = [
    "DOMAINS",
    "credit_offer",
    "customer",
    "customer_communication",
    "loan_request",
    "payments",
    "risk_assessment",
]
