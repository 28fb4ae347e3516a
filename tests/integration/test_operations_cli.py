"""The operator commands as a user runs them, as real processes: dead-letter groups, replay of a group,
discard, edit, saga retry/compensate/abandon and the audit log, each action refused without a reason."""

from __future__ import annotations

import getpass
import json
import subprocess
import sys
from pathlib import Path

from interlink.adapters.brokers.memory import MemoryBroker
from interlink.patterns.command_events import load_saga
from interlink.patterns.command_events.declarations import REQUEST_KIND
from interlink.runtime import DomainRuntime
from interlink.runtime.backends import open_store
from tests.support.command_events_app import StartOrigination, lending, originate
from tests.support.operations_app import Balance, ledger, park_posting

ROOT = Path(__file__).resolve().parents[2]
INTERLINK = str(Path(sys.executable).with_name("interlink"))
LEDGER = "tests.support.operations_app:ledger"
LENDING = "tests.support.command_events_app:lending"


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``interlink`` as a real process from the project's folder."""
    return subprocess.run(
        [INTERLINK, *args], cwd=ROOT, capture_output=True, text=True, input=stdin, timeout=120, check=False
    )


def urls(tmp_path: Path) -> list[str]:
    """Store and broker options for files in the test's folder."""
    return ["--store", f"sqlite:///{tmp_path}/{{domain}}.db", "--broker", f"sqlite:///{tmp_path}/broker.db"]


async def test_groups_then_replay_of_a_group_needs_a_reason_and_is_audited(tmp_path: Path) -> None:
    """`groups --json` lists the group; `replay --group` refuses without --reason, then replays it, audited."""
    async with open_store(f"sqlite:///{tmp_path}/{{domain}}.db", ledger.name) as store:
        await park_posting(store, "a", 2)
        await park_posting(store, "a", 3)
    listed = cli("dead-letters", "groups", LEDGER, "--json", *urls(tmp_path)[:2])
    assert listed.returncode == 0, listed.stderr
    (group,) = json.loads(listed.stdout)
    assert group["count"] == 2
    refused = cli("dead-letters", "replay", LEDGER, "--group", group["fingerprint"], "--yes", *urls(tmp_path))
    assert refused.returncode == 2
    assert "--reason" in refused.stderr
    done = cli(
        "dead-letters", "replay", LEDGER, "--group", group["fingerprint"], "--yes", "--reason", "fixed",
        "--actor", "bob", *urls(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "2 dead letters: 2 replayed" in done.stdout
    async with open_store(f"sqlite:///{tmp_path}/{{domain}}.db", ledger.name) as store:
        stored = await store.load("Balance", "a")
        assert stored is not None
        assert Balance.model_validate_json(stored.data).total == 5
    audit = cli("audit", "list", LEDGER, "--json", *urls(tmp_path)[:2])
    assert audit.returncode == 0, audit.stderr
    entries = json.loads(audit.stdout)
    assert [(e["actor"], e["action"], e["reason"]) for e in entries] == [("bob", "dead_letter.replay", "fixed")] * 2


async def test_discard_by_id_is_audited_under_the_os_user(tmp_path: Path) -> None:
    """`discard ID --reason` drops the letter; the audit entry names the OS user and keeps the message."""
    async with open_store(f"sqlite:///{tmp_path}/{{domain}}.db", ledger.name) as store:
        letter = await park_posting(store, "d", -1)
    result = cli("dead-letters", "discard", LEDGER, str(letter.id), "--reason", "test posting", *urls(tmp_path)[:2])
    assert result.returncode == 0, result.stderr
    assert "1 dead letters discarded" in result.stdout
    entries = json.loads(cli("audit", "list", LEDGER, "--json", *urls(tmp_path)[:2]).stdout)
    assert [(e["actor"], e["action"], e["target"]) for e in entries] == [
        (getpass.getuser(), "dead_letter.discard", f"dead-letter:{letter.id}")
    ]
    assert json.loads(entries[0]["before"]["body"])["data"] == {"account": "d", "amount": -1}


async def test_edit_replays_a_checked_copy_from_stdin(tmp_path: Path) -> None:
    """`edit ID --payload -` refuses a payload that does not match the type, then replays a fixed copy."""
    async with open_store(f"sqlite:///{tmp_path}/{{domain}}.db", ledger.name) as store:
        letter = await park_posting(store, "e", -7)
    base = ("dead-letters", "edit", LEDGER, str(letter.id), "--payload", "-", "--reason", "sign", *urls(tmp_path))
    bad = cli(*base, stdin='{"account": "e"}')
    assert bad.returncode == 2
    assert "amount" in bad.stderr
    fixed = cli(*base, stdin='{"account": "e", "amount": 7}')
    assert fixed.returncode == 0, fixed.stderr
    new_id = fixed.stdout.split()[-1]
    async with open_store(f"sqlite:///{tmp_path}/{{domain}}.db", ledger.name) as store:
        assert await store.dead_letter(letter.id or 0) is None
        assert await store.seen("ledger", [new_id]) == {new_id}
    (entry,) = json.loads(cli("audit", "list", LEDGER, "--json", *urls(tmp_path)[:2]).stdout)
    assert entry["after"]["replayof"] == letter.message_id


async def test_saga_retry_compensate_and_abandon_need_a_reason_and_are_audited(tmp_path: Path) -> None:
    """The three saga actions from the command line: refused without a reason, then done and audited."""
    store_url = f"sqlite:///{tmp_path}/{{domain}}.db"
    async with MemoryBroker() as broker:
        runtime = DomainRuntime(lending, open_store(store_url, lending.name), broker)
        await runtime.prepare()
        ids = [await runtime.execute(originate, StartOrigination(ref=f"s-{i}")) for i in range(3)]
        await runtime.stop()
    assert cli("sagas", "retry", LENDING, ids[0], *urls(tmp_path)).returncode == 2
    for verb, saga_id in zip(("retry", "compensate", "abandon"), ids, strict=True):
        extra = urls(tmp_path) if verb != "abandon" else urls(tmp_path)[:2]
        result = cli("sagas", verb, LENDING, saga_id, "--reason", f"{verb} it", *extra)
        assert result.returncode == 0, result.stderr
    async with open_store(store_url, lending.name) as store:
        states = [await load_saga(store, i) for i in ids]
        assert [s.status.value for s in states if s] == ["running", "compensated", "abandoned"]
        assert await store.load(REQUEST_KIND, f"{ids[0]}-1-do") is not None
    listed = json.loads(cli("sagas", "list", LENDING, "--json", "--status", "running", *urls(tmp_path)[:2]).stdout)
    assert [s["id"] for s in listed] == [ids[0]]
    entries = json.loads(cli("audit", "list", LENDING, "--json", *urls(tmp_path)[:2]).stdout)
    assert [e["action"] for e in entries] == ["saga.abandon", "saga.compensate", "saga.retry"]


async def test_every_action_is_refused_without_a_reason(tmp_path: Path) -> None:
    """Replay (by id, in bulk, by group), discard, edit and the saga actions exit 2 naming --reason; nothing changes."""
    async with open_store(f"sqlite:///{tmp_path}/{{domain}}.db", ledger.name) as store:
        letter = await park_posting(store, "r", -1)
    ledger_letter = (LEDGER, str(letter.id), *urls(tmp_path))
    commands = [
        ("dead-letters", "replay", *ledger_letter),
        ("dead-letters", "replay", LEDGER, "--all", "--yes", *urls(tmp_path)),
        ("dead-letters", "replay", LEDGER, "--group", "0123456789ab", "--yes", *urls(tmp_path)),
        ("dead-letters", "discard", LEDGER, str(letter.id), *urls(tmp_path)[:2]),
        ("dead-letters", "discard", *ledger_letter[:2], "--reason", " ", *urls(tmp_path)[:2]),
        ("dead-letters", "edit", *ledger_letter[:2], "--payload", "-", *urls(tmp_path)),
        *[("sagas", verb, LENDING, "s-1", *urls(tmp_path)[:2]) for verb in ("retry", "compensate", "abandon")],
    ]
    for command in commands:
        refused = cli(*command, stdin='{"account": "r", "amount": 1}')
        assert refused.returncode == 2, (command, refused.stdout, refused.stderr)
        assert "--reason is required" in refused.stderr, command
    async with open_store(f"sqlite:///{tmp_path}/{{domain}}.db", ledger.name) as store:
        assert await store.dead_letter(letter.id or 0) is not None
        assert await store.audit_entries() == []
    dry = cli("dead-letters", "replay", LEDGER, "--all", "--dry-run", *urls(tmp_path))
    assert dry.returncode == 0, dry.stderr
    assert "dry run: nothing was replayed" in dry.stdout
