"""The reference bank landscape: service domains integrated through Interlink's patterns."""

from examples.bank.customer import customer
from examples.bank.loan_request import loan_request

DOMAINS = [customer, loan_request]

__all__ = ["DOMAINS", "customer", "loan_request"]
