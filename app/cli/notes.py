"""`lantern notes …`: notes on lesson sections, kept in the learning record (and synced when signed in).

A note edited on two devices before they synced has two versions; `list` shows both and
`resolve` keeps one (or new text).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from app.core.errors import LanternError
from app.core.i18n import _
from app.core.sync.records import LessonRef


def _lesson_ref(text: str) -> LessonRef:
    try:
        return LessonRef.parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            _("'{text}' is not a lesson reference: write COURSE/LESSON or COURSE/LESSON#SECTION (such as "
              "python-basics/05-loops#while).").format(text=text)) from None


def register(sub: Any, *, models_sub: Any) -> None:
    notes = sub.add_parser("notes", help="your notes on lesson sections",
                           description="Add, list, edit and delete notes on lessons. LESSON_REF is COURSE/LESSON "
                           "or COURSE/LESSON#SECTION. Notes sync with `lantern sync` when signed in.")
    nsub = notes.add_subparsers(dest="sub_command", metavar="SUBCOMMAND", required=True)
    add = nsub.add_parser("add", help="add a note to a lesson (or one of its sections)")
    add.add_argument("lesson_ref", type=_lesson_ref, metavar="LESSON_REF")
    add.add_argument("text", metavar="TEXT")
    ls = nsub.add_parser("list", help="list notes (conflicts show every version)")
    ls.add_argument("course", nargs="?", default=None, metavar="COURSE[/LESSON]",
                    help="only the notes of this course or lesson")
    ls.add_argument("--json", action="store_true", help="print the notes as JSON")
    edit = nsub.add_parser("edit", help="replace a note's text")
    edit.add_argument("note_id", metavar="ID")
    edit.add_argument("text", metavar="TEXT")
    rm = nsub.add_parser("rm", help="delete a note")
    rm.add_argument("note_id", metavar="ID")
    resolve = nsub.add_parser("resolve", help="end a conflict: keep one version, or new text")
    resolve.add_argument("note_id", metavar="ID")
    which = resolve.add_mutually_exclusive_group(required=True)
    which.add_argument("--keep", type=int, metavar="N", help="keep version N as `notes list` numbers them")
    which.add_argument("--text", metavar="TEXT", help="replace every version with this text")


def _note_json(note: Any) -> dict[str, Any]:
    return {"id": note.id, "ref": str(note.ref), "course_id": note.ref.course_id, "lesson_id": note.ref.lesson_id,
            "section": note.ref.section, "text": note.text, "updated_at": note.updated_at.isoformat(),
            "conflict": note.in_conflict,
            "versions": [{"text": v.text, "at": v.at.isoformat(), "device": v.node} for v in note.versions]}


def cmd_add(args: argparse.Namespace) -> int:
    from app.cli import open_services

    with open_services(args) as services:
        note = services.record.add_note(args.lesson_ref, args.text)
    print(_("Added note {id} to {ref}.").format(id=note.id, ref=note.ref))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from app.cli import open_services

    course, _slash, lesson = (args.course or "").partition("/")
    with open_services(args) as services:
        notes = services.record.notes(course or None, lesson or None)
    if args.json:
        print(json.dumps([_note_json(n) for n in notes], indent=2, ensure_ascii=False))
        return 0
    if not notes:
        print(_("No notes yet. Add one with `lantern notes add COURSE/LESSON \"text\"`."))
    for note in notes:
        print(f"{note.id}  {note.ref}  ({note.updated_at.isoformat(timespec='seconds')})")
        if note.in_conflict:
            print("  " + _("CONFLICT: edited on two devices; keep one with `lantern notes resolve {id} --keep N`")
                  .format(id=note.id))
            for i, version in enumerate(note.versions, 1):
                text = version.text if version.text is not None else _("[deleted]")
                print(f"  [{i}] {text}")
        else:
            print(f"  {note.text}")
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    from app.cli import open_services

    with open_services(args) as services:
        note = services.record.edit_note(args.note_id, args.text)
    print(_("Updated note {id}.").format(id=note.id))
    if note.in_conflict:
        print(_("It still has a competing version from another device: `lantern notes resolve {id}`.").format(
            id=note.id))
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    from app.cli import open_services

    with open_services(args) as services:
        services.record.delete_note(args.note_id)
    print(_("Deleted note {id}.").format(id=args.note_id))
    return 0


def cmd_resolve(args: argparse.Namespace) -> int:
    from app.cli import open_services

    with open_services(args) as services:
        record = services.record
        if args.text is not None:
            text: str | None = args.text
        else:
            note = record.note(args.note_id, include_deleted=True)
            versions = note.versions or ()
            if not 1 <= args.keep <= len(versions):
                raise LanternError(_("Note {id} has no version {n}.").format(id=args.note_id, n=args.keep),
                                   hint=_("`lantern notes list` numbers the versions of a note in conflict."))
            text = versions[args.keep - 1].text
        record.resolve_note(args.note_id, text)
    print(_("Resolved note {id}.").format(id=args.note_id) if text is not None
          else _("Resolved note {id}: it stays deleted.").format(id=args.note_id))
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "notes add": cmd_add, "notes list": cmd_list, "notes edit": cmd_edit, "notes rm": cmd_rm,
    "notes resolve": cmd_resolve,
}
