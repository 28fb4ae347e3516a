"""The behaviour every store adapter must have, written once and subclassed per backend.

A store adapter (yours included) proves it keeps Interlink's delivery guarantees by passing this suite::

    from interlink.testing.contracts.store import StoreContract

    class TestMyStore(StoreContract):
        @pytest.fixture
        async def store(self) -> AsyncIterator[Store]:
            async with MyStore("my://...", domain="test-domain") as store:
                yield store

The ``store`` fixture must give a connected store on fresh, empty storage for domain ``"test-domain"``.
The class name does not start with ``Test``, so pytest collects only the subclasses. The suite's parts
live in the modules of this package; ``StoreContract`` combines them.
"""

from __future__ import annotations

from interlink.testing.contracts.store.data import DataContract
from interlink.testing.contracts.store.due import DueContract
from interlink.testing.contracts.store.messaging import MessagingContract
from interlink.testing.contracts.store.ordered import OrderedLettersContract
from interlink.testing.contracts.store.records import RecordsContract
from interlink.testing.contracts.store.retention import RetentionContract
from interlink.testing.contracts.store.teardown import TeardownContract

__all__ = ["StoreContract"]


class StoreContract(
    DataContract,
    DueContract,
    MessagingContract,
    OrderedLettersContract,
    RecordsContract,
    RetentionContract,
    TeardownContract,
):
    """Abstract tests of the :class:`~interlink.ports.store.Store` port.

    Subclasses define the ``store`` fixture (see the module docstring); it is not declared here so that a
    subclass's fixture may ask for any other fixture it needs (``tmp_path``, a database URL, ...).
    """
