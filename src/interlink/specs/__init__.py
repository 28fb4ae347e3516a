"""Specifications generated from the same declarations as the code, so they never drift from it.

:func:`collect` reads a domain into the neutral model of :mod:`interlink.specs.model`; the renderers turn
that model into AsyncAPI 3.0 (:func:`asyncapi_document`), inbound file layouts as JSON Schema
(:func:`file_schemas`) and the landscape diagram; :func:`diff_specs` finds breaking changes between two
versions of the documents.
"""

from interlink.specs.asyncapi import asyncapi_document
from interlink.specs.collect import collect
from interlink.specs.model import DomainSpec

__all__ = ["DomainSpec", "asyncapi_document", "collect"]
