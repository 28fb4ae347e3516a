"""Pattern 2, Inbound File: Data File -> "<Adapter> Inbound File handler" -> Command -> Root Entity.

A domain declares a source (``domain.inbound_file(...)``, :mod:`.verbs`; the declarations are
:mod:`.declarations`); this package is its adapter. Files are vetted and claimed (:mod:`.lifecycle`), read
one record at a time (:mod:`.readers`), and each record runs the declared command, a batch per transaction
with the file's checkpoint (:mod:`.ingestion`). :class:`FileIntake` watches the directories inside
``interlink run``; :func:`ingest_file` serves ``interlink ingest``. :mod:`.spec` and :mod:`.schemas` put
the sources in the documents, :mod:`.pattern` in a running domain.
"""

from interlink.patterns.inbound_file.errors import ClaimLost, FileRefused
from interlink.patterns.inbound_file.ingestion import Ingestion
from interlink.patterns.inbound_file.intake import FileIntake, IntakeSettings, ingest_file
from interlink.patterns.inbound_file.lifecycle import SourceWorker
from interlink.patterns.inbound_file.reports import FileReport
from interlink.patterns.inbound_file.streams import Facts, prescan
from interlink.patterns.pattern import Host as IntakeHost

__all__ = [
    "ClaimLost",
    "Facts",
    "FileIntake",
    "FileRefused",
    "FileReport",
    "Ingestion",
    "IntakeHost",
    "IntakeSettings",
    "SourceWorker",
    "ingest_file",
    "prescan",
]
