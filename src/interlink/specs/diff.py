"""``spec diff``: breaking changes between two versions of a landscape's (or a domain's) specifications.

Compares bundle folders file by file (``spec bundle``'s JSON documents) or two single documents (AsyncAPI,
OpenAPI, inbound file layouts; JSON or YAML). Removed channels, messages, operations, paths and documents
are breaking; so are the schema changes :mod:`interlink.specs.compat` finds. Additions are compatible.
Between bundles, each consumer's declared needs (replica fields, notification events) are also checked
against its producer's new document (:mod:`interlink.specs.needs`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from interlink.exceptions import ConfigurationError
from interlink.specs.cloudevents import data_schema
from interlink.specs.compat import Change, Resolver, compare_schemas, document_resolver
from interlink.specs.needs import check_needs

__all__ = ["Change", "diff_documents", "diff_paths", "load_document"]

Document = dict[str, Any]
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
_PLACEHOLDER = re.compile(r"\{[^}]*\}")
_SEMVER = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")


def load_document(path: Path) -> Document:
    """A JSON or YAML document; raises ConfigurationError naming the file when it is neither."""
    try:
        text = path.read_text(encoding="utf-8")
        loaded = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"{path}: cannot read it as a specification ({exc})") from exc
    if not isinstance(loaded, dict):
        raise ConfigurationError(f"{path}: a specification is a JSON or YAML object")
    return loaded


def diff_paths(old: Path, new: Path) -> list[Change]:
    """Compare two bundle folders (their JSON documents, by relative path) or two documents."""
    if old.is_dir() and new.is_dir():
        old_docs = {p.relative_to(old).as_posix(): p for p in sorted(old.rglob("*.json"))}
        new_docs = {p.relative_to(new).as_posix(): p for p in sorted(new.rglob("*.json"))}
        changes = [Change(rel, "document removed", True) for rel in old_docs if rel not in new_docs]
        changes += [Change(rel, "document added", False) for rel in new_docs if rel not in old_docs]
        for rel, path in old_docs.items():
            if rel in new_docs:
                changes += diff_documents(load_document(path), load_document(new_docs[rel]), rel)
        return changes + _needs(old_docs, new_docs)
    if old.is_file() and new.is_file():
        return diff_documents(load_document(old), load_document(new), new.name)
    raise ConfigurationError(f"compare two folders or two files: {old} and {new} are not both of one kind")


def _needs(old_docs: dict[str, Path], new_docs: dict[str, Path]) -> list[Change]:
    """The consumers' needs against the producers' new documents; a consumer missing from the new bundle
    keeps the needs it declared in the old one."""
    both = {**old_docs, **new_docs}
    asyncapi = {rel: path for rel, path in both.items() if rel.endswith("/asyncapi.json")}
    documents = {rel.partition("/")[0]: load_document(path) for rel, path in asyncapi.items()}
    # A producer's API is what the new bundle says it serves: one missing from it is not checked.
    openapi = {rel.partition("/")[0]: load_document(p) for rel, p in new_docs.items() if rel.endswith("/openapi.json")}
    return check_needs(documents, {rel.partition("/")[0]: rel for rel in asyncapi}, openapi)


def _kind(document: Document) -> str:
    if "asyncapi" in document:
        return "asyncapi"
    if "openapi" in document:
        return "openapi"
    if "properties" in document or "$schema" in document or "type" in document:
        return "schema"
    return "layouts"  # what `spec files` prints: layout name -> schema


def diff_documents(old: Document, new: Document, where: str) -> list[Change]:
    """Every difference between two versions of one document."""
    kind = _kind(old)
    if _kind(new) != kind and new:
        return [Change(where, f"the document is no longer {kind}", True)]
    if kind == "asyncapi":
        return _versioned(old, new, where, _asyncapi(old, new, where))
    if kind == "openapi":
        return _versioned(old, new, where, _openapi(old, new, where))
    if kind == "schema":
        return compare_schemas(old, new, where, document_resolver(old), document_resolver(new), read=False)
    return _layouts(old, new, where)


def _versioned(old: Document, new: Document, where: str, changes: list[Change]) -> list[Change]:
    """``changes``, and whether the document's version says what they are: a breaking change needs a new
    major version (semantic versioning), which is itself breaking when it is missing."""
    before, after = str(old.get("info", {}).get("version", "")), str(new.get("info", {}).get("version", ""))
    old_major, new_major = _major(before), _major(after)
    if old_major is None or new_major is None:
        return changes
    breaking = [c for c in changes if c.breaking]
    if breaking and new_major <= old_major:
        needed = f"{old_major + 1}.0.0"
        what = f"version {before} -> {after}: {len(breaking)} breaking change(s) need a new major version ({needed})"
        return [*changes, Change(where, what, True)]
    if new_major > old_major:
        why = "as its breaking changes need" if breaking else "though no change breaks a client"
        return [*changes, Change(where, f"version {before} -> {after}: a new major version, {why}", False)]
    return changes


def _major(version: str) -> int | None:
    found = _SEMVER.match(version)
    return int(found.group(1)) if found else None


def _added_removed(old: dict[str, Any], new: dict[str, Any], where: str, what: str) -> list[Change]:
    changes = [Change(where, f"{what} {name} removed", True) for name in old if name not in new]
    return changes + [Change(where, f"{what} {name} added", False) for name in new if name not in old]


def _layouts(old: Document, new: Document, where: str) -> list[Change]:
    changes = _added_removed(old, new, where, "inbound file layout")
    for name, schema in old.items():
        if name in new:
            changes += compare_schemas(
                schema, new[name], f"{where} layout {name}", document_resolver(schema), document_resolver(new[name]),
                read=False,
            )  # fmt: skip
    return changes


# -- AsyncAPI ----------------------------------------------------------------------------------------


def _channels(document: Document) -> dict[str, str]:
    """Channel names by a key older documents share: channels by their name, whatever the broker's address
    for them (one document channel per message type since payloads are whole envelopes, so several share a
    name); a run-time channel of an older document is known only by its key (``issuer_replies``). The
    dead-letter channels of older documents never existed on a broker and are left out."""
    found: dict[str, str] = {}
    for key, channel in document.get("channels", {}).items():
        if channel.get("x-interlink-dead-letter"):
            continue
        name = str(channel.get("x-interlink-channel") or channel.get("address") or key)
        found.setdefault(_UNSAFE.sub("_", name.replace("{", "").replace("}", "")), name)
    return found


def _messages(document: Document) -> dict[str, Any]:
    """Messages by their name (the CloudEvents type)."""
    found = document.get("components", {}).get("messages", {})
    return {str(m.get("name", key)): m for key, m in found.items()}


def _sent(document: Document, resolve: Resolver) -> set[str]:
    """The names of the messages the domain sends, the replies it gives to command events included: others
    read them."""
    names = set()
    for op in document.get("operations", {}).values():
        if op.get("action") == "send":
            names |= {str(resolve(ref).get("name")) for ref in op.get("messages", [])}
        elif isinstance(op.get("reply"), dict):
            names |= {str(resolve(ref).get("name")) for ref in op["reply"].get("messages", [])}
    return names


def _asyncapi(old: Document, new: Document, where: str) -> list[Change]:
    old_resolve, new_resolve = document_resolver(old), document_resolver(new)
    old_channels, new_channels = _channels(old), _channels(new)
    changes = [
        Change(where, f"channel {name} removed", True) for k, name in old_channels.items() if k not in new_channels
    ]
    changes += [
        Change(where, f"channel {name} added", False) for k, name in new_channels.items() if k not in old_channels
    ]
    changes += _added_removed(old.get("operations", {}), new.get("operations", {}), where, "operation")
    old_messages, new_messages = _messages(old), _messages(new)
    changes += _added_removed(old_messages, new_messages, where, "message")
    sent = _sent(old, old_resolve)
    for name, message in old_messages.items():
        if name in new_messages:
            # The message's own data: the envelope around it is the same for every message.
            before = data_schema(old_resolve(message.get("payload", {})))
            after = data_schema(new_resolve(new_messages[name].get("payload", {})))
            changes += compare_schemas(
                before, after, f"{where} message {name}", old_resolve, new_resolve, read=name in sent
            )
    return changes


# -- OpenAPI -----------------------------------------------------------------------------------------


def _operations(document: Document) -> dict[str, tuple[str, Any]]:
    """Operations by method and path template with the parameters' names left out (a client fills in the
    values by position, so renaming one changes nothing for it), each with its path as written."""
    return {
        f"{method.upper()} {_PLACEHOLDER.sub('{}', path)}": (f"{method.upper()} {path}", op)
        for path, item in document.get("paths", {}).items()
        for method, op in item.items()
        if method in _METHODS
    }


def _json_schema(content: dict[str, Any]) -> Any:
    return content.get("application/json", {}).get("schema")


def _openapi(old: Document, new: Document, where: str) -> list[Change]:
    old_resolve, new_resolve = document_resolver(old), document_resolver(new)
    old_ops, new_ops = _operations(old), _operations(new)
    changes = [
        Change(where, f"operation {shown} removed", True) for k, (shown, _) in old_ops.items() if k not in new_ops
    ]
    changes += [
        Change(where, f"operation {shown} added", False) for k, (shown, _) in new_ops.items() if k not in old_ops
    ]
    for key, (name, then) in old_ops.items():
        if key not in new_ops:
            continue
        renamed, now = new_ops[key]
        here = f"{where} {name}"
        if renamed != name:
            changes.append(Change(here, f"path parameter(s) renamed: now {renamed}", False))
        known = {(p.get("in"), p.get("name")) for p in then.get("parameters", [])}
        changes += [
            Change(here, f"new required {p.get('in')} parameter {p.get('name')!r}", True)
            for p in now.get("parameters", [])
            # A path parameter is filled in by position: the path template's match above covers it.
            if p.get("required") and p.get("in") != "path" and (p.get("in"), p.get("name")) not in known
        ]
        old_body = _json_schema(old_resolve(then.get("requestBody", {})).get("content", {}))
        new_body = _json_schema(new_resolve(now.get("requestBody", {})).get("content", {}))
        if old_body is not None and new_body is not None:
            changes += compare_schemas(old_body, new_body, f"{here} request", old_resolve, new_resolve, read=False)
        elif new_body is not None and now.get("requestBody", {}).get("required"):
            changes.append(Change(here, "a request body is now required", True))
        for status, response in then.get("responses", {}).items():
            if not str(status).startswith("2"):
                continue
            if status not in now.get("responses", {}):
                changes.append(Change(here, f"response {status} removed", True))
                continue
            before = _json_schema(old_resolve(response).get("content", {}))
            after = _json_schema(new_resolve(now["responses"][status]).get("content", {}))
            if before is not None and after is not None:
                changes += compare_schemas(
                    before, after, f"{here} response {status}", old_resolve, new_resolve, read=True
                )
    return changes
