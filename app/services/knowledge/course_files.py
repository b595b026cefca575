"""Read a course folder, and inspect or unpack a course pack (.zip), without trusting either.

Packs come from anywhere (a USB stick, a chat attachment), so every path is checked before it is
opened and every size before it is written: a pack cannot write outside its folder, plant a
symlink, or fill the disk. The rules about what a valid course is live in app.core.course_format.
"""

from __future__ import annotations

import errno
import hashlib
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from app.core.course_format import check_course, parse_lesson, parse_manifest, parse_question_file, unsafe_path_reason
from app.core.courses import COURSE_MANIFEST, Course, CourseManifest, LabelledQuestion, Lesson
from app.core.errors import CourseInvalid, DiskFull, LanternError
from app.core.i18n import N_, _

MiB = 1024 * 1024
# A lesson is prose a learner reads; 2 MiB is a book chapter many times over. Bigger is a mistake
# (a pasted dump) that would only slow indexing down.
MAX_LESSON_BYTES = 2 * MiB
# course.toml and questions.toml are small lists; the cap keeps a bad file from being read whole.
MAX_TEXT_FILE_BYTES = 4 * MiB
# A pack holds lessons, a few images and precomputed vectors: a few thousand files and some tens of
# MiB. These caps refuse zip bombs and runaway folders before they fill the learner's disk.
MAX_PACK_ENTRIES = 5000
MAX_PACK_BYTES = 200 * MiB  # total uncompressed
MAX_PACK_FILE_BYTES = 50 * MiB  # one file, uncompressed (the largest embedding file of a big course)
# Text and vectors compress 3-10x; zeros compress ~1000x. Above 200x an entry over 1 MiB is a bomb.
MAX_RATIO = 200
RATIO_CHECK_FROM_BYTES = 1 * MiB
_BLOCK = 256 * 1024
# Files that zip tools add beside the content (Finder's resource forks); never part of a course.
_IGNORED_TOP = frozenset({"__MACOSX"})

PACK_HINT = N_("Ask the course's author for a new copy of the pack, or import the course folder instead.")


@dataclass(frozen=True)
class PackInfo:
    manifest: CourseManifest
    prefix: str  # the single top-level folder that holds course.toml ("name/"), or "" when at the top
    file_count: int
    total_bytes: int  # declared uncompressed size of the files that will be extracted


# -- course folders -----------------------------------------------------------------------------------


def read_manifest(root: Path) -> CourseManifest:
    """Only course.toml: enough to list a course without reading its lessons."""
    real_root = _real_root(root)
    manifest_path = _inside(real_root, COURSE_MANIFEST, root)
    return parse_manifest(_read_text(manifest_path, COURSE_MANIFEST, MAX_TEXT_FILE_BYTES), source=_name(root))


def read_course(root: Path) -> Course:
    """Read and fully check a course folder; any problem is a CourseInvalid naming the file."""
    real_root = _real_root(root)
    manifest = read_manifest(root)
    lessons: list[Lesson] = []
    for rel in manifest.lessons:
        path = _inside(real_root, rel, root)
        data = _read_bytes(path, rel, MAX_LESSON_BYTES)
        lessons.append(parse_lesson(_decode(data, rel), lesson_id=PurePosixPath(rel).stem, path=rel,
                                    content_hash=hashlib.sha256(data).hexdigest()))
    questions: tuple[LabelledQuestion, ...] = ()
    quiz: tuple[Any, ...] = ()
    if manifest.questions:
        path = _inside(real_root, manifest.questions, root)
        questions, quiz = parse_question_file(_read_text(path, manifest.questions, MAX_TEXT_FILE_BYTES),
                                              source=manifest.questions, course_id=manifest.id)
    for pack in manifest.embeddings:
        _inside(real_root, pack.file, root)
    course = Course(manifest=manifest, lessons=tuple(lessons), questions=questions, quiz=quiz)
    check_course(course)
    return course


def _real_root(root: Path) -> Path:
    if not root.is_dir():
        raise CourseInvalid(_("'{root}' is not a course folder.").format(
                              root=root), hint=_("Choose the folder that holds course.toml."))
    return root.resolve(strict=True)


def _name(root: Path) -> str:
    return f"{COURSE_MANIFEST} in '{root.name}'" if root.name else COURSE_MANIFEST


def _inside(real_root: Path, rel: str, root: Path) -> Path:
    """The file `rel` names, refused if it escapes the course folder (through '..' or a symlink)."""
    reason = unsafe_path_reason(rel)
    if reason:
        raise CourseInvalid(_("The course path '{rel}' {reason}.").format(
                              rel=rel, reason=reason), hint=_("Paths must stay inside the course folder."))
    try:
        path = (real_root / rel).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop: RuntimeError up to 3.12, OSError after
        raise CourseInvalid(_("'{rel}' in course '{name}' cannot be opened ({exc}).").format(
                              rel=rel, name=root.name, exc=exc),
                            hint=_("Replace the symbolic link with the file itself.")) from exc
    if not path.is_relative_to(real_root):
        raise CourseInvalid(_("'{rel}' in course '{name}' points outside the course folder (a symlink?).").format(
                              rel=rel, name=root.name),
                            hint=_("Copy the file into the course folder instead of linking to it."),
                            debug_context={"resolved": str(path)})
    if not path.is_file():
        message = (_("'{rel}' in course '{name}' is not a file.") if path.exists()
                   else _("'{rel}' in course '{name}' is missing."))
        raise CourseInvalid(message.format(rel=rel, name=root.name),
                            hint=_("course.toml lists it; add the file or remove it from {course_manifest}.").format(
                                   course_manifest=COURSE_MANIFEST))
    return path


def _read_bytes(path: Path, rel: str, limit: int) -> bytes:
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise CourseInvalid(_("Could not read '{rel}': {reason}.").format(rel=rel, reason=exc.strerror or exc),
                            hint=_("Check that the file is readable."), debug_context={"path": str(path)}) from exc
    if len(data) > limit:
        raise CourseInvalid(_("'{rel}' is larger than {limit} MiB.").format(rel=rel, limit=limit // MiB),
                            hint=_("Split it into several smaller lessons."), debug_context={"path": str(path)})
    return data


def _decode(data: bytes, rel: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CourseInvalid(_("'{rel}' is not UTF-8 text (bad byte at position {start}).").format(
                              rel=rel, start=exc.start),
                            hint=_("Open it in a text editor and save it with UTF-8 encoding.")) from exc


def _read_text(path: Path, rel: str, limit: int) -> str:
    return _decode(_read_bytes(path, rel, limit), rel)


# -- packs --------------------------------------------------------------------------------------------


def inspect_pack(zip_path: Path) -> PackInfo:
    """Check a pack's directory and manifest without extracting anything."""
    with _open_zip(zip_path) as zf:
        return _inspect(zf, zip_path)


def extract_pack(zip_path: Path, dest: Path) -> None:
    """Extract a checked pack into `dest` (new or empty); on any failure `dest` is left as it was.

    The headers' sizes were checked by inspect_pack, but they are the attacker's to write, so the
    bytes actually decompressed are counted too and extraction stops at the first lie.
    """
    existed = dest.exists()
    if existed and any(dest.iterdir()):
        raise ValueError(f"extract_pack needs a new or empty folder, not {dest}")
    try:
        with _open_zip(zip_path) as zf:
            info = _inspect(zf, zip_path)
            dest.mkdir(parents=True, exist_ok=True)
            real_dest = dest.resolve()
            total = 0
            for entry in _content_entries(zf):
                rel = entry.filename[len(info.prefix):]
                if not rel or rel.endswith("/"):
                    continue
                target = real_dest / rel
                if not target.resolve().is_relative_to(real_dest):  # checked names cannot, but never trust
                    raise CourseInvalid(_("'{name}' has an entry that leaves the course folder ('{rel}').").format(
                                          name=zip_path.name, rel=rel),
                                        hint=_(PACK_HINT))
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    total += _extract_entry(zf, entry, target, zip_path, already=total)
                except OSError as exc:
                    if isinstance(exc, LanternError):
                        raise
                    raise translate_os_error(exc, action=_("unpack '{rel}' from '{name}'").format(
                                                           rel=rel, name=zip_path.name),
                                             path=target) from exc
    except BaseException:
        undo_fill(dest, existed=existed)
        raise


def undo_fill(dest: Path, *, existed: bool) -> None:
    """Remove what a failed extraction or build wrote: the folder's contents if it was there before
    (it was empty), else the folder itself."""
    if not existed:
        shutil.rmtree(dest, ignore_errors=True)
        return
    for child in dest.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def translate_os_error(exc: OSError, *, action: str, path: Path) -> LanternError:
    """A full disk is DiskFull (the learner can fix it); anything else names the path it hit."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(_("The disk is full: could not {action}.").format(action=action),
                        hint=_("Free some space on the disk that holds {anchor}, then try again.").format(
                               anchor=path.anchor or path),
                        debug_context={"path": str(path), "error": repr(exc)})
    return CourseInvalid(_("Could not {action}: {reason} ({path}).").format(
                           action=action, reason=exc.strerror or exc, path=path),
                         hint=_("Check that the folder exists and that you may write to it."),
                         debug_context={"path": str(path), "error": repr(exc)})


def _extract_entry(zf: zipfile.ZipFile, entry: zipfile.ZipInfo, target: Path, zip_path: Path, *, already: int) -> int:
    limit = min(entry.file_size, MAX_PACK_FILE_BYTES, MAX_PACK_BYTES - already)
    written = 0
    try:
        with zf.open(entry) as src, target.open("xb") as out:
            while block := src.read(min(_BLOCK, limit - written + 1)):
                written += len(block)
                if written > limit:
                    raise CourseInvalid(
                        _("'{name}' is damaged or malicious: '{filename}' holds more data than its header says; "
                          "extraction was stopped.").format(
                          name=zip_path.name, filename=entry.filename), hint=_(PACK_HINT),
                        debug_context={"declared": entry.file_size, "read_at_least": written})
                out.write(block)
    except (zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:
        if isinstance(exc, LanternError):
            raise
        raise CourseInvalid(_("'{name}' is damaged: '{filename}' could not be unpacked ({exc}).").format(
                              name=zip_path.name, filename=entry.filename, exc=exc),
                            hint=_(PACK_HINT)) from exc
    if written != entry.file_size:
        raise CourseInvalid(_("'{name}' is damaged: '{filename}' is shorter than its header says.").format(
                              name=zip_path.name, filename=entry.filename),
                            hint=_(PACK_HINT), debug_context={"declared": entry.file_size, "read": written})
    return written


def _open_zip(zip_path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(zip_path)
    except FileNotFoundError as exc:
        raise CourseInvalid(_("There is no file at '{zip_path}'.").format(
                              zip_path=zip_path), hint=_("Check the path.")) from exc
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError) as exc:
        raise CourseInvalid(_("'{name}' is not a course pack: it is not a zip file, or it is damaged.").format(
                              name=zip_path.name),
                            hint=_(PACK_HINT), debug_context={"error": repr(exc)}) from exc
    except OSError as exc:
        raise CourseInvalid(_("Could not read '{zip_path}': {reason}.").format(
                              zip_path=zip_path, reason=exc.strerror or exc),
                            hint=_("Check that the file is readable.")) from exc


def _content_entries(zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    return [e for e in zf.infolist() if e.filename.split("/", 1)[0] not in _IGNORED_TOP]


def _inspect(zf: zipfile.ZipFile, zip_path: Path) -> PackInfo:
    name = zip_path.name
    entries = zf.infolist()
    if len(entries) > MAX_PACK_ENTRIES:
        raise CourseInvalid(_("'{name}' has {count} files; a course pack may have at most {max_pack_entries}.").format(
                              name=name, count=len(entries), max_pack_entries=MAX_PACK_ENTRIES),
                            hint=_(PACK_HINT))
    seen: set[str] = set()
    total = 0
    for entry in entries:
        _check_entry(entry, name)
        # Case-folded: on Windows and macOS "A.md" and "a.md" would overwrite each other.
        key = entry.filename.rstrip("/").casefold()
        if key in seen:
            raise CourseInvalid(_("'{name}' has two entries named '{filename}'.").format(
                                  name=name, filename=entry.filename), hint=_(PACK_HINT))
        seen.add(key)
        total += entry.file_size
        if total > MAX_PACK_BYTES:
            raise CourseInvalid(_("'{name}' would unpack to more than {max_pack_bytes} MiB; that is too large for a "
                                  "course.").format(name=name, max_pack_bytes=MAX_PACK_BYTES // MiB), hint=_(PACK_HINT))
    content = _content_entries(zf)
    names = {e.filename for e in content}
    if COURSE_MANIFEST in names:
        prefix = ""
    else:
        tops = {e.filename.split("/", 1)[0] for e in content}
        prefix = f"{next(iter(tops))}/" if len(tops) == 1 else ""
        if not prefix or f"{prefix}{COURSE_MANIFEST}" not in names:
            raise CourseInvalid(_("'{name}' is not a course pack: it has no {course_manifest} at the top or inside "
                                  "one top-level folder.").format(name=name, course_manifest=COURSE_MANIFEST),
                                hint=_("Zip the course folder itself (the one that holds course.toml)."))
    manifest_entry = zf.getinfo(f"{prefix}{COURSE_MANIFEST}")
    if manifest_entry.file_size > MAX_TEXT_FILE_BYTES:
        raise CourseInvalid(_("The {course_manifest} in '{name}' is too large.").format(
                              course_manifest=COURSE_MANIFEST, name=name), hint=_(PACK_HINT))
    try:
        data = zf.read(manifest_entry)
    except (zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:
        raise CourseInvalid(_("'{name}' is damaged: {course_manifest} could not be unpacked.").format(
                              name=name, course_manifest=COURSE_MANIFEST), hint=_(PACK_HINT)) from exc
    manifest = parse_manifest(_decode(data, f"{COURSE_MANIFEST} in '{name}'"), source=f"{COURSE_MANIFEST} in '{name}'")
    files = [e for e in content if not e.is_dir()]
    return PackInfo(manifest=manifest, prefix=prefix, file_count=len(files),
                    total_bytes=sum(e.file_size for e in files))


def _check_entry(entry: zipfile.ZipInfo, name: str) -> None:
    # orig_filename: zipfile cuts .filename at a NUL and turns '\' into '/' on Windows.
    raw = entry.orig_filename
    reason = unsafe_path_reason(raw)
    if reason:
        raise CourseInvalid(_("'{name}' has an unsafe entry {raw!r}: the name {reason}.").format(
                              name=name, raw=raw, reason=reason),
                            hint=_("Lantern refuses packs that could write outside their folder. {pack_hint}").format(
                                   pack_hint=_(PACK_HINT)))
    if stat.S_ISLNK(entry.external_attr >> 16):
        raise CourseInvalid(_("'{name}' contains a symbolic link ('{raw}'); course packs may only hold files.").format(
                              name=name, raw=raw),
                            hint=_(PACK_HINT))
    if entry.flag_bits & 0x1:
        raise CourseInvalid(_("'{name}' is password-protected ('{raw}' is encrypted).").format(name=name, raw=raw),
                            hint=_("Make the pack again without a password."))
    if entry.file_size > MAX_PACK_FILE_BYTES:
        raise CourseInvalid(_("'{name}': '{raw}' would unpack to {size} MiB; one file in a course may be at "
                              "most {limit} MiB.").format(
                              name=name, raw=raw, size=entry.file_size // MiB, limit=MAX_PACK_FILE_BYTES // MiB),
                            hint=_(PACK_HINT))
    if entry.file_size > RATIO_CHECK_FROM_BYTES and entry.file_size > entry.compress_size * MAX_RATIO:
        raise CourseInvalid(_("'{name}': '{raw}' is compressed more than {max_ratio} times, as zip bombs are; it "
                              "was not unpacked.").format(name=name, raw=raw, max_ratio=MAX_RATIO), hint=_(PACK_HINT),
                            debug_context={"file_size": entry.file_size, "compress_size": entry.compress_size})
