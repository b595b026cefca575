"""The installed courses: the built-in ones shipped in resources/courses, and the learner's own in
<data>/courses/<id>/ (imported packs, course folders and ad-hoc folders of notes).

An import is all-or-nothing: it is built in a hidden temporary folder beside the courses, checked
in full with read_course, and only then renamed into place, so a bad pack or a crash never leaves a
half-imported course, and a re-import never loses the old copy before the new one is whole.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app.core.course_format import is_valid_course_id
from app.core.courses import COURSE_MANIFEST, Course, CourseManifest
from app.core.errors import CourseInvalid, CourseNotFound, LanternError
from app.core.i18n import N_, _
from app.services.knowledge.adhoc_import import build_adhoc_course
from app.services.knowledge.course_files import (
    MAX_PACK_BYTES,
    MAX_PACK_ENTRIES,
    MAX_PACK_FILE_BYTES,
    MiB,
    extract_pack,
    inspect_pack,
    read_course,
    read_manifest,
    translate_os_error,
)
from app.services.resources import resource_path

log = logging.getLogger(__name__)

_IMPORT_PREFIX = ".import-"
_OLD_PREFIX = ".old-"  # ".old-<8 hex>-<id>": a course moved aside while its replacement goes in
_TOKEN_HEX = 8
# Another Lantern (the CLI beside the GUI) may be importing right now; only leftovers older than
# this are a crash's, and an import takes seconds.
STALE_AFTER_S = 3600.0
LIST_HINT = N_("See `lantern courses list`.")


@dataclass(frozen=True)
class InstalledCourse:
    id: str
    title: str
    version: str
    language: str
    description: str
    lesson_count: int
    root: Path
    builtin: bool


@dataclass(frozen=True)
class ImportResult:
    course: InstalledCourse
    replaced: InstalledCourse | None  # the course with the same id that was shown before (user or built-in)
    adhoc: bool  # made from a plain folder of notes
    skipped: tuple[tuple[str, str], ...]  # ad-hoc only: (file, why it was not imported)


def builtin_course_dirs() -> list[Path]:
    folder = resource_path("courses")
    return [folder] if folder.is_dir() else []


class CourseLibrary:
    def __init__(self, courses_dir: Path, *, builtin_dirs: Sequence[Path] = ()) -> None:
        self.courses_dir = courses_dir
        self.builtin_dirs = tuple(builtin_dirs)
        self._clean_leftovers()

    # -- reading ------------------------------------------------------------------------------------

    def list(self) -> list[InstalledCourse]:
        """Every usable course, a user course hiding a built-in one with the same id; a broken
        folder is logged and left out so one bad course never hides the others."""
        found: dict[str, InstalledCourse] = {}
        for folder, builtin in [(self.courses_dir, False)] + [(d, True) for d in self.builtin_dirs]:
            for root in _course_folders(folder):
                if root.name in found:
                    continue
                try:
                    found[root.name] = self._installed(root, builtin=builtin)
                except (LanternError, OSError) as exc:
                    log.warning("Skipping the course folder %s: %s", root, exc)
        return sorted(found.values(), key=lambda c: (c.title.casefold(), c.id))

    def get(self, course_id: str) -> InstalledCourse:
        for root, builtin in self._candidates(course_id):
            if (root / COURSE_MANIFEST).is_file():
                return self._installed(root, builtin=builtin)
        raise CourseNotFound(_("No course is installed with the id '{course_id}'.").format(
                               course_id=course_id), hint=_(LIST_HINT))

    def load(self, course_id: str) -> Course:
        return read_course(self.get(course_id).root)

    def _candidates(self, course_id: str) -> tuple[tuple[Path, bool], ...]:
        if not is_valid_course_id(course_id):  # an id is also a folder name: never let it be a path
            return ()
        return ((self.courses_dir / course_id, False), *((d / course_id, True) for d in self.builtin_dirs))

    def _installed(self, root: Path, *, builtin: bool) -> InstalledCourse:
        manifest = read_manifest(root)
        if manifest.id != root.name:
            raise CourseInvalid(_("The course folder '{name}' holds course '{id}'.").format(
                                  name=root.name, id=manifest.id),
                                hint=_("Import the course again instead of copying folders by hand."))
        return _as_installed(manifest, root, builtin=builtin)

    # -- changing -----------------------------------------------------------------------------------

    def import_path(self, path: Path, *, course_id: str | None = None) -> ImportResult:
        """Import a pack (.zip), a course folder (with course.toml) or a folder of notes (ad-hoc).

        `course_id` names an ad-hoc course; a pack or course folder keeps its manifest's id, which
        is its identity (re-importing a newer version replaces the old one).
        """
        path = path.expanduser()
        if course_id is not None and not is_valid_course_id(course_id):
            raise CourseInvalid(_("'{course_id}' cannot be a course id.").format(course_id=course_id),
                                hint=_("Use lowercase letters, digits, '.', '_' and '-' (at most 64 characters)."))
        kind = _kind(path)
        if kind == "pack":
            self._check_id(inspect_pack(path).manifest, course_id, path)
        elif kind == "folder":
            self._check_id(read_manifest(path), course_id, path)
        tmp = self.courses_dir / f"{_IMPORT_PREFIX}{secrets.token_hex(_TOKEN_HEX)}"
        try:
            self.courses_dir.mkdir(parents=True, exist_ok=True)
            skipped: tuple[tuple[str, str], ...] = ()
            if kind == "pack":
                extract_pack(path, tmp)
            elif kind == "folder":
                _copy_course_folder(path, tmp)
            else:
                skipped = build_adhoc_course(path, tmp, course_id=course_id).skipped
            course = read_course(tmp)  # the copy is what will be used, so the copy is what is checked
            replaced = self._visible(course.id)
            target = self.courses_dir / course.id
            self._swap_in(tmp, target)
        except LanternError:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise translate_os_error(exc, action=_("import '{name}'").format(
                                                   name=path.name), path=Path(exc.filename or tmp)) from exc
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return ImportResult(course=_as_installed(course.manifest, target, builtin=False), replaced=replaced,
                            adhoc=kind == "adhoc", skipped=skipped)

    def remove(self, course_id: str) -> None:
        installed = self.get(course_id)
        if installed.builtin:
            raise CourseInvalid(_("'{course_id}' is a built-in course and cannot be removed.").format(
                                  course_id=course_id),
                                hint=_("Built-in courses come with Lantern; you can simply not use it."))
        aside = self.courses_dir / f"{_OLD_PREFIX}{secrets.token_hex(_TOKEN_HEX)}-{course_id}"
        try:
            os.rename(installed.root, aside)  # gone from the list at once, even if deleting is slow
        except OSError as exc:
            raise translate_os_error(exc, action=_("remove course '{course_id}'").format(
                                                   course_id=course_id), path=installed.root) from exc
        shutil.rmtree(aside, ignore_errors=True)  # what is left is cleaned as a leftover next time

    def _check_id(self, manifest: CourseManifest, course_id: str | None, path: Path) -> None:
        if course_id is not None and course_id != manifest.id:
            raise CourseInvalid(_("'{name}' is the course '{id}'; its id cannot be changed to '{course_id}' on "
                                  "import.").format(name=path.name, id=manifest.id, course_id=course_id),
                                hint=_("Leave out the id, or change `id` in its course.toml."))

    def _visible(self, course_id: str) -> InstalledCourse | None:
        try:
            return self.get(course_id)
        except LanternError:
            return None

    def _swap_in(self, tmp: Path, target: Path) -> None:
        """Rename the checked copy into place; an old copy is moved aside first and restored on failure."""
        aside: Path | None = None
        if target.exists():
            aside = self.courses_dir / f"{_OLD_PREFIX}{secrets.token_hex(_TOKEN_HEX)}-{target.name}"
            os.rename(target, aside)
        try:
            os.rename(tmp, target)
        except BaseException:
            if aside is not None:
                os.rename(aside, target)
            raise
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)

    def _clean_leftovers(self) -> None:
        """Remove what a crashed import left; a course moved aside with nothing in its place is put back."""
        try:
            children = list(self.courses_dir.iterdir()) if self.courses_dir.is_dir() else []
        except OSError as exc:
            log.warning("Cannot look for leftovers in %s: %s", self.courses_dir, exc)
            return
        now = time.time()
        for child in children:
            name = child.name
            if not name.startswith((_IMPORT_PREFIX, _OLD_PREFIX)):
                continue
            try:
                if now - child.lstat().st_mtime < STALE_AFTER_S:
                    continue
                course_id = name[len(_OLD_PREFIX) + _TOKEN_HEX + 1:] if name.startswith(_OLD_PREFIX) else ""
                target = self.courses_dir / course_id
                if course_id and is_valid_course_id(course_id) and not target.exists():
                    log.warning("Restoring course %s, moved aside by an import that did not finish", course_id)
                    os.rename(child, target)
                elif child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
            except OSError as exc:
                log.warning("Cannot clean the leftover %s: %s", child, exc)


def _as_installed(manifest: CourseManifest, root: Path, *, builtin: bool) -> InstalledCourse:
    return InstalledCourse(id=manifest.id, title=manifest.title, version=manifest.version, language=manifest.language,
                           description=manifest.description, lesson_count=len(manifest.lessons), root=root,
                           builtin=builtin)


def _course_folders(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    except FileNotFoundError:
        return []
    except OSError as exc:
        log.warning("Cannot list the courses in %s: %s", folder, exc)
        return []


def _kind(path: Path) -> str:
    if path.is_dir():
        return "folder" if (path / COURSE_MANIFEST).is_file() else "adhoc"
    if path.is_file():
        if path.suffix.lower() == ".zip" or zipfile.is_zipfile(path):
            return "pack"
        raise CourseInvalid(_("'{name}' is not a course pack or a folder.").format(name=path.name),
                            hint=_("Import a course pack (.zip), a course folder, or a folder of notes."))
    raise CourseInvalid(_("There is no file or folder at '{path}'.").format(path=path), hint=_("Check the path."))


def _copy_course_folder(source: Path, dest: Path) -> None:
    """Copy a course folder (hidden files left out), under the same limits as a pack."""
    real = source.resolve()
    count = total = 0
    for folder, dirs, names in os.walk(real):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if name.startswith("."):
                continue
            src = Path(folder) / name
            rel = src.relative_to(real)
            if not src.resolve().is_relative_to(real):  # read_course refuses these if the course uses them
                log.info("Not copying %s: it points outside the course folder", src)
                continue
            size = src.stat().st_size
            count += 1
            total += size
            if count > MAX_PACK_ENTRIES or size > MAX_PACK_FILE_BYTES or total > MAX_PACK_BYTES:
                raise CourseInvalid(_("'{name}' is too large for a course (more than {max_files} files, a "
                                      "file over {max_file_mib} MiB, or {max_total_mib} MiB in all).").format(
                                      name=source.name, max_files=MAX_PACK_ENTRIES,
                                      max_file_mib=MAX_PACK_FILE_BYTES // MiB, max_total_mib=MAX_PACK_BYTES // MiB),
                                    hint=_("Move what the course does not need out of its folder."))
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest / rel)
