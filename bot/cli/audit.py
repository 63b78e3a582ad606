"""``ssj audit verify|list|head``: check the chain (and the anchors kept outside the
database, and the records the log must account for), list entries, print the head."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bot.cli.commands import CliError, database
from bot.cli.terminal import print_json, table
from bot.services import audit_check
from bot.text import t
from storage import audit
from storage.repos import audit as audit_repo

SHOWN = 20  # unaccounted records listed in text output


def add_parser(sub, _parser) -> None:
    p = _parser(sub, "audit", "cli.cmd_audit")
    asub = p.add_subparsers(dest="action", metavar=t("cli.metavar", name="action"), required=True)
    a = _parser(asub, "verify", "cli.cmd_audit_verify", verify)
    a.add_argument("--anchors", metavar="FILE", help=t("audit.opt_anchors"))
    a.add_argument("--json", action="store_true", help=t("cli.opt_json"))
    a = _parser(asub, "list", "cli.cmd_audit_list", list_)
    a.add_argument("--limit", type=int, default=20, help=t("cli.opt_limit"))
    a = _parser(asub, "head", "audit.cmd_head", head)
    a.add_argument("--json", action="store_true", help=t("cli.opt_json"))


def read_anchors(path: str) -> list[audit.Anchor]:
    file = Path(path)
    if not file.is_file():
        raise CliError(t("cli.file_missing", path=path))
    try:
        content = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(t("audit.anchors_unreadable", path=path, error=str(exc))) from exc
    try:
        anchors = audit.parse_anchors(content)
    except audit.AnchorFormatError as exc:
        raise CliError(
            t("audit.anchors_format", path=path, line=exc.line, text=exc.text.strip()[:120])
        ) from exc
    if not anchors:
        raise CliError(t("audit.anchors_none"))
    return anchors


async def verify(args) -> int:
    anchors = read_anchors(args.anchors) if args.anchors else None
    async with database(args) as (_, sf, _e):
        async with sf() as s:
            check = await audit.verify(s)
        async with sf() as s:
            missing = await audit_check.unaccounted(s)
            failed = await audit.check_anchors(s, anchors) if anchors else []
    ok = check.ok and not missing and not failed
    if args.json:
        print_json(
            {
                "ok": ok,
                "entries": check.entries,
                "first_bad": check.first_bad,
                "last_bad": check.last_bad,
                "problem": check.problem,
                "head": check.head,
                "head_seq": check.head_seq,
                "unaccounted": [{"kind": u.kind, "action": u.action, **u.params} for u in missing],
                "anchors": None
                if anchors is None
                else {
                    "checked": len(anchors),
                    "failed": [
                        {"line": a.line, "seq": a.seq, "hash": a.hash, "problem": why}
                        for a, why in failed
                    ],
                },
            }
        )
    else:
        out = sys.stdout if check.ok else sys.stderr
        if check.ok:
            print(
                t("audit.chain_ok", count=check.entries, seq=check.head_seq, head=check.head),
                file=out,
            )
        else:
            print(
                t(
                    "audit.chain_bad",
                    problem=check.problem,
                    first=check.first_bad,
                    last=check.last_bad,
                    next_id=check.next_id,
                    linked_to=check.linked_to,
                ),
                file=out,
            )
        if missing:
            print(t("audit.unaccounted_title", count=len(missing)), file=sys.stderr)
            for u in missing[:SHOWN]:
                print(
                    t("audit.unaccounted", kind=u.kind, action=u.action, p=u.params),
                    file=sys.stderr,
                )
            if len(missing) > SHOWN:
                print(t("audit.more", count=len(missing) - SHOWN), file=sys.stderr)
        if failed:
            print(t("audit.anchors_bad_title", count=len(failed)), file=sys.stderr)
            for a, why in failed:
                print(
                    t("audit.anchor_bad", line=a.line, seq=a.seq, hash=a.hash, why=why),
                    file=sys.stderr,
                )
        elif anchors:
            print(t("audit.anchors_ok", count=len(anchors)), file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


async def list_(args) -> int:
    async with database(args) as (_, sf, _e):
        async with sf() as s:
            rows = await audit_repo.newest(s, max(1, args.limit))
    cols = ["id", "at", "actor", "action", "subject"]
    table(
        [t("cli.col", name=c) for c in cols],
        [[r.id, r.at, r.actor, r.action, r.subject] for r in reversed(rows)],
    )
    return 0


async def head(args) -> int:
    async with database(args) as (_, sf, _e):
        async with sf() as s:
            found = await audit.head(s)
    if found is None:
        raise CliError(t("audit.head_empty"))
    seq, hash_ = found
    if args.json:
        print(json.dumps({"seq": seq, "hash": hash_}))  # one line: an anchors file line
    else:
        print(t("audit.head", seq=seq, hash=hash_))
        print(t("audit.head_note"), file=sys.stderr)
    return 0
