"""A customer source with one eager and one deferred subscriber to its notifications, for the spec tests."""

from tests.support.notifications import consumer, customer

loans = consumer("loans", "eager").domain
pricing = consumer("pricing", "deferred").domain

__all__ = ["customer", "loans", "pricing"]
