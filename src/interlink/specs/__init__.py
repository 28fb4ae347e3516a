"""Specifications generated from the same declarations as the code, so they never drift from it.

:func:`collect` reads a domain into the neutral model of :mod:`interlink.specs.model`; renderers turn that
model into AsyncAPI 3.0 as on the wire of a given broker (:func:`asyncapi_document`, the broker's layout in
:mod:`interlink.specs.wire`) and the landscape diagram (:func:`build_landscape`,
then :mod:`interlink.specs.diagram` or :func:`~interlink.specs.landscape.mermaid`);
:func:`write_bundle` writes them all, with the OpenAPI documents and the inbound files' JSON Schemas
(:mod:`interlink.patterns.inbound_file.schemas`), to one folder; :func:`diff_paths` finds breaking changes
between two versions.
"""

from interlink.specs.asyncapi import asyncapi_document
from interlink.specs.bundle import write_bundle
from interlink.specs.collect import collect
from interlink.specs.diff import diff_paths
from interlink.specs.landscape import build_landscape
from interlink.specs.model import DomainSpec

__all__ = [
    "DomainSpec",
    "asyncapi_document",
    "build_landscape",
    "collect",
    "diff_paths",
    "write_bundle",
]
