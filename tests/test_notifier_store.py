"""The outbox's SQL: decided atomically with the cursor, retries hold a target's later
messages, interrupted deliveries resume, old history is pruned."""

from __future__ import annotations

import contextlib
from pathlib import Path

from chargewatch import store
from notifier import store as nstore


def row(target: str = "console:", receiver: str = "noc") -> nstore.OutboxRow:
    return nstore.OutboxRow(receiver, target, target, "console", "new", "g", "{}")


def db(tmp_path: Path):
    store.open_db(tmp_path / "cw.db").close()
    return contextlib.closing(store.open_reader(tmp_path / "cw.db"))


def test_rows_snapshot_and_cursor_commit_together(tmp_path: Path) -> None:
    with db(tmp_path) as conn:
        ids = nstore.commit(conn, [row(), row("file:x")], 42, '{"s": 1}', 100.0)
        assert len(ids) == 2
        assert nstore.load_snapshot(conn) == (42, '{"s": 1}')
        assert store.read_cursor(conn, nstore.CONSUMER) == 42
        assert [i.id for i in nstore.due(conn, 100.0)] == ids
        assert nstore.pending(conn) == 2


def test_a_retry_holds_the_targets_later_messages_but_not_others(tmp_path: Path) -> None:
    with db(tmp_path) as conn:
        nstore.commit(conn, [row("a:"), row("a:"), row("b:")], None, None, 100.0)
        first = nstore.due(conn, 100.0)[0]
        nstore.mark_sending(conn, first)
        nstore.finish(conn, first, "retry", 101.0, 0.1, "down", next_at=160.0)
        assert [i.target for i in nstore.due(conn, 150.0)] == ["b:"]
        assert [i.target for i in nstore.due(conn, 160.0)] == ["a:", "a:", "b:"]
        assert nstore.read_log(conn, 10)[0]["result"] == "retry"


def test_interrupted_deliveries_resume_marked(tmp_path: Path) -> None:
    with db(tmp_path) as conn:
        nstore.commit(conn, [row()], None, None, 100.0)
        item = nstore.due(conn, 100.0)[0]
        nstore.mark_sending(conn, item)
        assert nstore.due(conn, 200.0) == []
        assert nstore.resume_interrupted(conn) == 1
        [again] = nstore.due(conn, 200.0)
        assert again.resumed and again.attempts == 1


def test_prune_forgets_only_old_finished_history(tmp_path: Path) -> None:
    with db(tmp_path) as conn:
        old_sent, old_pending, new_sent = nstore.commit(
            conn, [row(), row(), row()], None, None, 10.0
        )
        for outbox_id, at in ((old_sent, 11.0), (new_sent, 11.0)):
            [item] = [i for i in nstore.due(conn, 20.0) if i.id == outbox_id]
            nstore.finish(conn, item, "sent", at, 0.1)
        conn.execute("UPDATE outbox SET created=1000 WHERE id=?", (new_sent,))
        conn.execute("UPDATE notification_log SET at=1000 WHERE outbox_id=?", (new_sent,))
        assert nstore.prune(conn, older_than=500.0) == 1
        left = {r[0] for r in conn.execute("SELECT id FROM outbox")}
        assert left == {old_pending, new_sent}  # undelivered messages are never pruned
        assert [r["outbox_id"] for r in nstore.read_log(conn, 10)] == [new_sent]


def test_an_attempt_that_could_not_be_recorded_is_released_for_later(tmp_path: Path) -> None:
    with db(tmp_path) as conn:
        nstore.commit(conn, [row()], None, None, 100.0)
        item = nstore.due(conn, 100.0)[0]
        nstore.mark_sending(conn, item)
        nstore.release(conn, item, 110.0)
        assert nstore.due(conn, 109.0) == []
        assert [i.id for i in nstore.due(conn, 110.0)] == [item.id]
