"""Contract suites: the behaviour every adapter of a port must have, as abstract pytest classes.

Subclass one per adapter in your own tests; see :class:`BrokerContract` for how.
"""

import pytest

# The suites' asserts run in the user's test session: let pytest rewrite them for readable failures.
# This must happen before the modules are imported, so here, in the package they live in.
pytest.register_assert_rewrite("interlink.testing.contracts.broker", "interlink.testing.contracts.store")

from interlink.testing.contracts.broker import BrokerContract  # noqa: E402

__all__ = ["BrokerContract"]
