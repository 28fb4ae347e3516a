"""Pattern 2 as the rest of the framework sees it: its collector and its part in a running domain."""

from __future__ import annotations

from collections.abc import Sequence

from interlink.patterns.inbound_file.declarations import inbound_files_of
from interlink.patterns.inbound_file.intake import FileIntake
from interlink.patterns.inbound_file.spec import inbound_files
from interlink.patterns.pattern import Host, Part, Pattern
from interlink.specs.model import INBOUND_FILE

__all__ = ["PATTERN", "Intake"]


class Intake(Part):
    """In one domain: the watch over its inbound file sources' folders."""

    needs = "the inbound folders"

    def __init__(self, host: Host) -> None:
        self.intake = FileIntake(host)

    async def ready(self) -> None:
        # A folder on a share that is not mounted yet is waited for like a store that is not up yet.
        for worker in self.intake.workers:
            worker.folders.ensure()

    async def start(self) -> None:
        await self.intake.start()

    async def stop(self) -> None:
        await self.intake.stop()


def _parts(host: Host) -> Sequence[Part]:
    return [Intake(host)] if inbound_files_of(host.domain) else []


PATTERN = Pattern(
    INBOUND_FILE,
    "Inbound File",
    collectors=(inbound_files,),
    parts=_parts,
    commands="interlink.patterns.inbound_file.cli:register",
)
