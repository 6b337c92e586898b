"""Audit log service: chain, tamper evidence, filters, keyset paging, totals, export, CLI."""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlmodel import select

from kilo import audit
from kilo.__main__ import main
from kilo.audit import SYSTEM_ACTOR_ID, AuditFilter, Cursor
from kilo.audit import query as audit_query
from kilo.errors import PermissionDenied, ValidationError
from kilo.models import AuditDaily
from kilo.permissions import system_actor
from tests.factories import create_team

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
ACTIONS = [
    "organization.member.invite",
    "organization.member.remove",
    "organization.settings.change",
    "billing.credits.purchase",
    "organization.user.login",
]


@pytest.fixture
def team(session):
    t = create_team(session)
    session.commit()
    return t


def _fill(session, team, n=120, seed=7):
    """n entries over ~20 days by three actors and the system; several share a timestamp."""
    rng = random.Random(seed)
    actors = [team["owner"], team["admin"], team["member"], system_actor(team["owner"].org_id)]
    made = []
    for i in range(n):
        at = T0 + timedelta(hours=rng.randrange(0, 20 * 24), minutes=rng.choice([0, 0, 15]))
        a = rng.choice(actors)
        action = rng.choice(ACTIONS)
        msg = rng.choice(
            [
                "Seats: 5 → 6",
                "Invited bob@example.com",
                "=HYPERLINK(evil)",
                "100% done",
                "signed in",
                "under_score",
            ]
        )
        made.append(
            audit.record(
                session,
                actor=a,
                action=action,
                target=f"t{i}",
                message=msg,
                details={"i": i, "note": "-1"},
                at=at,
            )
        )
    session.commit()
    return made


def _all_pages(session, actor, f, limit):
    seen, cursor = [], None
    while True:
        page = audit.list_entries(session, actor=actor, filters=f, limit=limit, cursor=cursor)
        seen += page.entries
        if page.next_cursor is None:
            return seen
        cursor = Cursor.decode(page.next_cursor.encode())  # round-trips through a URL


def _expected(entries, f):
    def ok(e):
        if f.actions and e.action not in f.actions:
            return False
        if f.actor_id == SYSTEM_ACTOR_ID and e.actor_id is not None:
            return False
        if f.actor_id not in (None, SYSTEM_ACTOR_ID) and e.actor_id != f.actor_id:
            return False
        if f.start and e.created_at < f.start or f.end and e.created_at >= f.end:
            return False
        if f.search:
            hay = " ".join([e.action, e.actor_name, e.actor_email, e.target, e.message]).lower()
            return f.search.lower() in hay
        return True

    return sorted((e for e in entries if ok(e)), key=lambda e: (e.created_at, e.id), reverse=True)


# ---- chain and tamper evidence ----------------------------------------------------------


def test_record_chains_entries_and_verify_accepts_them(session, team):
    made = _fill(session, team, n=30)
    assert made[0].prev_hash == "" and all(
        b.prev_hash == a.hash for a, b in zip(made, made[1:], strict=False)
    )
    report = audit.verify_chain(session, org_id=team["owner"].org_id, batch=7)
    assert report.ok and report.checked == 30
    assert report.head_id == made[-1].id and report.head_hash == made[-1].hash


def test_non_utc_time_is_stored_as_utc_and_still_verifies(session, team):
    berlin = timezone(timedelta(hours=2))
    e = audit.record(
        session, actor=team["owner"], action="x.y.z", at=datetime(2026, 5, 1, 12, tzinfo=berlin)
    )
    session.commit()
    assert e.created_at == datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert audit.verify_chain(session, org_id=team["owner"].org_id).ok


def _tamper_target(session, team):
    made = _fill(session, team, n=12)
    session.expunge_all()
    return made[5].id, made


def test_altered_message_is_named(session, team):
    bad, _ = _tamper_target(session, team)
    session.execute(
        text("UPDATE auditentry SET message = 'nothing happened' WHERE id = :i"), {"i": bad}
    )
    session.commit()
    report = audit.verify_chain(session, org_id=team["owner"].org_id)
    assert not report.ok and report.first_bad_id == bad and report.checked == 5
    assert "altered" in report.problem


def test_altered_details_or_time_is_named(session, team):
    bad, made = _tamper_target(session, team)
    session.execute(
        text("UPDATE auditentry SET created_at = :t WHERE id = :i"),
        {"t": "2020-01-01 00:00:00.000000", "i": made[8].id},
    )
    session.commit()
    assert audit.verify_chain(session, org_id=team["owner"].org_id).first_bad_id == made[8].id


def test_deleted_entry_is_named_by_its_successor(session, team):
    bad, made = _tamper_target(session, team)
    session.execute(text("DELETE FROM auditentry WHERE id = :i"), {"i": bad})
    session.commit()
    report = audit.verify_chain(session, org_id=team["owner"].org_id)
    assert not report.ok and report.first_bad_id == made[6].id
    assert f"does not follow entry {made[4].id}" in report.problem


def test_deleted_first_entry_is_caught(session, team):
    _, made = _tamper_target(session, team)
    session.execute(text("DELETE FROM auditentry WHERE id = :i"), {"i": made[0].id})
    session.commit()
    assert audit.verify_chain(session, org_id=team["owner"].org_id).first_bad_id == made[1].id


def test_inserted_entry_is_named(session, team):
    _, made = _tamper_target(session, team)
    org_id = team["owner"].org_id
    # A forged entry slipped in with a plausible hash but no link to its predecessor.
    session.execute(
        text(
            "INSERT INTO auditentry (org_id, created_at, actor_id, actor_name, actor_email, "
            "action, target, message, details, prev_hash, hash) VALUES (:o, :t, NULL, 'x', '', "
            "'organization.member.remove', 'x', 'forged', '{}', :p, :h)"
        ),
        {"o": org_id, "t": "2026-03-02 10:00:00.000000", "p": "0" * 64, "h": "f" * 64},
    )
    session.commit()
    forged = session.execute(text("SELECT max(id) FROM auditentry")).scalar_one()
    report = audit.verify_chain(session, org_id=org_id)
    assert not report.ok and report.first_bad_id == forged and report.checked == len(made)


def test_inserted_entry_copying_the_link_but_not_the_hash_is_named(session, team):
    _, made = _tamper_target(session, team)
    org_id = team["owner"].org_id
    session.execute(
        text(
            "INSERT INTO auditentry (org_id, created_at, actor_id, actor_name, actor_email, "
            "action, target, message, details, prev_hash, hash) VALUES (:o, :t, NULL, 'x', '', "
            "'organization.member.remove', 'x', 'forged', '{}', :p, :h)"
        ),
        {"o": org_id, "t": "2026-03-02 10:00:00.000000", "p": made[-1].hash, "h": made[-1].hash},
    )
    session.commit()
    forged = session.execute(text("SELECT max(id) FROM auditentry")).scalar_one()
    assert audit.verify_chain(session, org_id=org_id).first_bad_id == forged


def test_chains_are_per_organization(session, team):
    other = create_team(session)
    _fill(session, team, n=5)
    audit.record(session, actor=other["owner"], action="a.b.c")
    session.commit()
    assert audit.verify_chain(session, org_id=other["owner"].org_id).checked == 1
    assert audit.verify_chain(session, org_id=team["owner"].org_id).checked == 5


def test_cli_verify_audit_exit_codes(session, team, capsys):
    made = _fill(session, team, n=8)
    assert main(["verify-audit"]) == 0
    out = capsys.readouterr().out
    assert "8 entries, chain intact" in out and made[-1].hash in out
    session.execute(
        text("UPDATE auditentry SET target = 'someone-else' WHERE id = :i"), {"i": made[3].id}
    )
    session.commit()
    assert main(["verify-audit", "--org", str(team["owner"].org_id)]) == 1
    err = capsys.readouterr().err
    assert f"CHAIN BROKEN at entry {made[3].id}" in err
    assert main(["verify-audit", "--org", "999999"]) == 2


# ---- listing, filters and keyset paging --------------------------------------------------


FILTERS = [
    AuditFilter(),
    AuditFilter(actions=("organization.member.invite",)),
    AuditFilter(actions=("organization.member.invite", "billing.credits.purchase")),
    AuditFilter(actor_id=SYSTEM_ACTOR_ID),
    AuditFilter(start=T0 + timedelta(days=3, hours=5), end=T0 + timedelta(days=9, minutes=7)),
    AuditFilter(start=T0 + timedelta(days=2)),
    AuditFilter(end=T0 + timedelta(days=4, hours=3)),
    AuditFilter(start=T0 + timedelta(hours=1), end=T0 + timedelta(hours=20)),  # within a day
    AuditFilter(search="HYPERLINK"),
    AuditFilter(search="100%"),
    AuditFilter(search="r_s"),  # "_" is literal, not a wildcard
    AuditFilter(search="example.com", actions=("organization.user.login",)),
]


@pytest.mark.parametrize("f", FILTERS, ids=range(len(FILTERS)))
@pytest.mark.parametrize("merge_max", [audit.MERGE_MAX_ACTIONS, 0])
def test_filters_paging_totals_and_chart_agree_with_brute_force(
    session, team, f, merge_max, monkeypatch
):
    monkeypatch.setattr(audit_query, "MERGE_MAX_ACTIONS", merge_max)
    made = _fill(session, team)
    owner = team["owner"]
    if f.actor_id is None and f == AuditFilter():
        f = AuditFilter()
    want = [e.id for e in _expected(made, f)]
    got = [e.id for e in _all_pages(session, owner, f, limit=7)]
    assert got == want
    assert audit.count_entries(session, actor=owner, filters=f) == len(want)
    per_day = audit.events_per_day(session, actor=owner, filters=f)
    assert sum(r["events"] for r in per_day) == len(want)
    assert {r["group"] for r in per_day} <= {audit.action_group(a) for a in ACTIONS}


def test_actor_filter_and_combined_filters(session, team):
    made = _fill(session, team)
    admin = team["admin"]
    for f in [
        AuditFilter(actor_id=admin.id),
        AuditFilter(
            actor_id=admin.id,
            actions=("organization.member.invite", "organization.user.login"),
            start=T0 + timedelta(days=1, hours=2),
        ),
    ]:
        want = [e.id for e in _expected(made, f)]
        assert want and [e.id for e in _all_pages(session, admin, f, 5)] == want
        assert audit.count_entries(session, actor=admin, filters=f) == len(want)


def test_newest_first_and_page_size(session, team):
    _fill(session, team, n=30)
    page = audit.list_entries(session, actor=team["owner"], limit=10)
    keys = [(e.created_at, e.id) for e in page.entries]
    assert len(keys) == 10 and keys == sorted(keys, reverse=True) and page.next_cursor
    with pytest.raises(ValidationError):
        audit.list_entries(session, actor=team["owner"], limit=0)


def test_bad_filters_are_refused_with_a_message(session, team):
    owner = team["owner"]
    with pytest.raises(ValidationError, match="ends before it starts"):
        audit.list_entries(session, actor=owner, filters=AuditFilter(start=T0, end=T0))
    with pytest.raises(ValidationError, match="timezone"):
        audit.count_entries(session, actor=owner, filters=AuditFilter(start=datetime(2026, 1, 1)))
    with pytest.raises(ValidationError, match="too long"):
        audit.list_entries(session, actor=owner, filters=AuditFilter(search="x" * 201))
    with pytest.raises(ValidationError, match="page link"):
        Cursor.decode("garbage")


def test_actions_and_actors_for_the_filters(session, team):
    _fill(session, team, n=60)
    owner = team["owner"]
    assert audit.list_actions(session, actor=owner) == sorted(ACTIONS)
    options = audit.list_actors(session, actor=owner)
    ids = {o.id for o in options}
    assert {team["owner"].id, team["admin"].id, team["member"].id, SYSTEM_ACTOR_ID} <= ids


def test_rollup_matches_a_rebuild(session, team):
    _fill(session, team)
    org_id = team["owner"].org_id

    def rows():
        return sorted(
            (r.day, r.action, r.entries)
            for r in session.exec(select(AuditDaily).where(AuditDaily.org_id == org_id)).all()
        )

    before = rows()
    assert sum(r[2] for r in before) == 120
    audit.rebuild_daily(session, org_id=org_id)
    session.commit()
    assert rows() == before


def test_members_cannot_read_the_audit_log(session, team):
    _fill(session, team, n=5)
    member = team["member"]
    for call in (
        lambda: audit.list_entries(session, actor=member),
        lambda: audit.count_entries(session, actor=member),
        lambda: audit.events_per_day(session, actor=member),
        lambda: audit.list_actions(session, actor=member),
        lambda: audit.list_actors(session, actor=member),
        lambda: audit.get_chain_status(session, actor=member),
        lambda: audit.export_file(session, actor=member),
    ):
        with pytest.raises(PermissionDenied, match="audit log"):
            call()
    assert audit.get_chain_status(session, actor=team["admin"]).ok


def test_other_organizations_entries_are_invisible(session, team):
    other = create_team(session)
    audit.record(session, actor=other["owner"], action="secret.thing.happen", message="hidden")
    _fill(session, team, n=10)
    owner = team["owner"]
    assert audit.count_entries(session, actor=owner) == 10
    assert "secret.thing.happen" not in audit.list_actions(session, actor=owner)
    assert all(e.org_id == owner.org_id for e in _all_pages(session, owner, AuditFilter(), 3))


# ---- export ------------------------------------------------------------------------------


def test_neutralise():
    for bad in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"]:
        assert audit.neutralise(bad) == "'" + bad
    for fine in ["plain", "a=b", "", " =x"]:
        assert audit.neutralise(fine) == fine
    assert audit.neutralise(-5) == -5


def test_csv_export_is_filtered_newest_first_and_spreadsheet_safe(session, team):
    made = _fill(session, team)
    owner = team["owner"]
    f = AuditFilter(actions=("organization.member.invite", "organization.settings.change"))
    raw = audit.export_file(session, actor=owner, filters=f, fmt="csv")
    assert raw.startswith("\ufeff".encode())  # spreadsheets detect UTF-8
    data = raw.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(data)))
    assert [int(r["id"]) for r in rows] == [e.id for e in _expected(made, f)]
    assert list(rows[0]) == list(audit.EXPORT_COLUMNS)
    for r in rows:
        assert not any(v.startswith(audit.FORMULA_PREFIXES) for v in r.values())
        assert datetime.fromisoformat(r["time_utc"]).tzinfo is not None
    evil = [r for r in rows if "HYPERLINK" in r["message"]]
    assert evil and all(r["message"] == "'=HYPERLINK(evil)" for r in evil)
    assert json.loads(rows[0]["details"])["note"] == "-1"  # the JSON cell starts with "{"


def test_jsonl_export(session, team):
    made = _fill(session, team, n=40)
    owner = team["owner"]
    f = AuditFilter(search="hyperlink")
    lines = audit.export_file(session, actor=owner, filters=f, fmt="jsonl").decode().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["id"] for r in records] == [e.id for e in _expected(made, f)] and records
    assert all(r["message"] == "'=HYPERLINK(evil)" for r in records)
    assert all(r["details"]["note"] == "'-1" for r in records)


def test_export_limit_and_format_are_checked(session, team):
    _fill(session, team, n=20)
    owner = team["owner"]
    with pytest.raises(ValidationError, match="20 entries match"):
        audit.export_file(session, actor=owner, max_entries=10)
    with pytest.raises(ValidationError, match="format"):
        audit.export_file(session, actor=owner, fmt="xlsx")
    empty = audit.export_file(session, actor=owner, filters=AuditFilter(search="no such thing"))
    assert empty.decode("utf-8-sig").splitlines() == [",".join(audit.EXPORT_COLUMNS)]


def test_cli_export_audit(session, team, tmp_path):
    made = _fill(session, team, n=25)
    out = tmp_path / "audit.jsonl"
    code = main(
        [
            "export-audit",
            "--org",
            str(team["owner"].org_id),
            "--format",
            "jsonl",
            "--action",
            "organization.user.login",
            "--since",
            "2026-03-02",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    got = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    f = AuditFilter(actions=("organization.user.login",), start=datetime(2026, 3, 2, tzinfo=UTC))
    assert got == [e.id for e in _expected(made, f)]
    assert main(["export-audit", "--org", str(team["owner"].org_id), "--since", "soon"]) == 2


def test_cli_daily_counts_catch_removed_newest_entries(session, team, capsys):
    """Deleting the newest entries leaves a valid chain; the daily rollup still disagrees."""
    made = _fill(session, team, n=40)
    org = str(team["owner"].org_id)
    assert main(["verify-audit", "--org", org]) == 0
    assert "chain intact, daily counts match" in capsys.readouterr().out
    newest = max(made, key=lambda e: e.id)
    day = newest.created_at.date()
    log_before = sum(1 for e in made if e.created_at.date() == day)
    session.execute(text("DELETE FROM auditentry WHERE id = :i"), {"i": newest.id})
    session.commit()
    assert audit.verify_chain(session, org_id=team["owner"].org_id).ok  # the chain hides it
    assert audit.compare_daily_rollup(session, org_id=team["owner"].org_id) == [
        audit.DayMismatch(day, log_before - 1, log_before)
    ]
    assert main(["verify-audit", "--org", org]) == 1
    captured = capsys.readouterr()
    assert "chain intact" not in captured.out
    assert (
        f"DAILY COUNTS DIFFER on 1 day(s): {day}: the log has {log_before - 1:,} entries, "
        f"the daily rollup counts {log_before:,}" in captured.err
    )
    # Without --org, every organization is checked: the same failure.
    assert main(["verify-audit"]) == 1


def test_cli_anchor_catches_truncation_and_rewrites(session, team, capsys):
    made = _fill(session, team, n=8)
    org = str(team["owner"].org_id)
    anchor = f"{made[-1].id}:{made[-1].hash}"
    assert main(["verify-audit", "--org", org, "--anchor", anchor]) == 0
    # Removing the newest entries and recounting the daily rollup to match leaves nothing
    # inside the database to compare with; only the anchor kept outside shows it.
    session.execute(text("DELETE FROM auditentry WHERE id >= :i"), {"i": made[-2].id})
    audit.rebuild_daily(session, org_id=team["owner"].org_id)
    session.commit()
    assert main(["verify-audit", "--org", org]) == 0
    capsys.readouterr()
    assert main(["verify-audit", "--org", org, "--anchor", anchor]) == 1
    assert "were removed" in capsys.readouterr().err
    assert main(["verify-audit", "--anchor", anchor]) == 2  # needs --org
