"""Parse a course's text files (manifest, lessons, question set) into the shared course types.

Pure: callers read the files (app.services.knowledge.course_files) and pass the text here, so every
rule about what a valid course is lives in one place and is tested without a disk. Every problem
is a CourseInvalid that names the file and the field, since the reader is a course author.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any, TypeGuard

import yaml  # type: ignore[import-untyped]  # no types-PyYAML in the environment

from app.core.courses import (
    COURSE_FORMAT_VERSION,
    Course,
    CourseManifest,
    EmbeddingPack,
    LabelledQuestion,
    Lesson,
)
from app.core.errors import CourseInvalid
from app.core.i18n import N_, _
from app.core.learning.quiz import QuizQuestion
from app.core.markdown_sections import split_sections

_ID_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_LANGUAGE_RE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")
_DRIVE_RE = re.compile(r"^[A-Za-z]:")
_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_H1_RE = re.compile(r"^ {0,3}# +(.*?)(?: +#+)? *$")
# Letters NFKD does not take apart; "đ" matters because Vietnamese is the first translation.
_FOLD = str.maketrans({"đ": "d", "Đ": "D", "ß": "ss", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L"})

ID_HINT = N_("Use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit "
             "(at most 64 characters).")


def is_valid_course_id(value: str) -> bool:
    return _ID_RE.fullmatch(value) is not None


def slug_for_id(name: str, *, fallback: str = "course") -> str:
    """A valid id made from a folder or file name, so an ad-hoc import needs no questions asked."""
    folded = unicodedata.normalize("NFKD", name.translate(_FOLD)).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")[:64].strip("-")
    return slug or fallback


def unsafe_path_reason(path: str) -> str | None:
    """Why `path` cannot name a file inside a course (None if it can).

    Shared by the manifest and the zip reader: a path that could climb out of the course folder,
    or mean different files on different systems, is refused before anything touches the disk.
    """
    if not path:
        return _("is empty")
    if "\x00" in path:
        return _("contains a NUL character")
    if "\\" in path:
        return _("contains a backslash (use '/' between folders)")
    if path.startswith("/"):
        return _("is an absolute path")
    if _DRIVE_RE.match(path) or ":" in path:
        return _("contains ':' (a drive letter or a Windows stream name)")
    parts = path.rstrip("/").split("/")
    if ".." in parts:
        return _("contains '..'")
    if any(part in ("", ".") for part in parts):
        return _("has an empty or '.' folder name")
    return None


# -- the manifest -----------------------------------------------------------------------------------


def parse_manifest(text: str, *, source: str) -> CourseManifest:
    """Parse course.toml. Unknown keys are ignored so newer minor additions stay readable."""
    try:
        data = tomllib.loads(text.removeprefix("\ufeff"))
    except tomllib.TOMLDecodeError as exc:
        raise CourseInvalid(_("{source} is not valid TOML: {exc}.").format(source=source, exc=exc),
                            hint=_("Fix the line shown; strings need double quotes, lists need [ ].")) from exc
    fmt = data.get("format", 1)
    if not _is_int(fmt) or fmt < 1:
        raise _invalid(source, "format", _("must be a whole number (1)"), _("Write format = 1."))
    if fmt > COURSE_FORMAT_VERSION:
        raise CourseInvalid(
            _("{source}: this course was made for a newer Lantern (course format {fmt}; this version reads format "
              "{supported}).").format(source=source, fmt=fmt, supported=COURSE_FORMAT_VERSION),
            hint=_("Update Lantern, then import the course again."))
    course_id = _required_str(data, "id", source, _('Add a line like id = "python-basics".'))
    if not is_valid_course_id(course_id):
        raise _invalid(source, "id", _("'{course_id}' is not a valid course id").format(course_id=course_id),
                       _(ID_HINT))
    title = _required_str(data, "title", source, _('Add a line like title = "Python basics".'))
    version = _required_str(data, "version", source, _('Add a line like version = "1.0.0".'))
    language = _required_str(data, "language", source, _('Add a line like language = "en".'))
    if not _LANGUAGE_RE.fullmatch(language):
        raise _invalid(source, "language", _("'{language}' is not a language tag").format(language=language),
                       _('Use a BCP 47 tag such as "en", "vi" or "pt-BR".'))
    description = data.get("description", "")
    if not isinstance(description, str):
        raise _invalid(source, "description", _("must be text"), _('Write description = "..." in double quotes.'))
    lessons = _lesson_paths(data.get("lessons"), source)
    questions = data.get("questions")
    if questions is not None:
        if not isinstance(questions, str):
            raise _invalid(source, "questions", _("must be a relative path"), _('Write questions = "questions.toml".'))
        _check_path(questions, source, "questions")
    return CourseManifest(
        id=course_id, title=title.strip(), version=version.strip(), language=language, description=description,
        lessons=lessons, embeddings=_embeddings(data.get("embeddings", []), source), questions=questions,
        format=fmt)


def _lesson_paths(value: Any, source: str) -> tuple[str, ...]:
    example = _('Write lessons = ["lessons/01-intro.md", "lessons/02-next.md"] in teaching order.')
    if value is None:
        raise _invalid(source, "lessons", _("is missing"), example)
    if not isinstance(value, list) or not value:
        raise _invalid(source, "lessons", _("must be a non-empty list of lesson files"), example)
    seen: dict[str, str] = {}
    for path in value:
        if not isinstance(path, str):
            raise _invalid(source, "lessons", _("has an entry that is not a path ({path!r})").format(
                                                path=path), example)
        _check_path(path, source, "lessons")
        if not path.endswith(".md"):
            raise _invalid(source, "lessons", _("'{path}' is not a Markdown file (.md)").format(
                                                path=path), _("Lessons are .md files."))
        stem = PurePosixPath(path).stem
        if path in seen.values():
            raise _invalid(source, "lessons", _("lists '{path}' twice").format(path=path), _("List each lesson once."))
        if stem in seen:
            raise _invalid(source, "lessons", _("'{seen}' and '{path}' would both be lesson '{stem}'").format(
                                                seen=seen[stem], path=path, stem=stem),
                           _("Lesson ids are file names without .md; rename one of the files."))
        seen[stem] = path
    return tuple(value)


def _embeddings(value: Any, source: str) -> tuple[EmbeddingPack, ...]:
    example = _('Each [[embeddings]] table needs model = "...", dimension = 384 and file = "embeddings/x.npz".')
    if not isinstance(value, list):
        raise _invalid(source, "embeddings", _("must be a list of [[embeddings]] tables"), example)
    packs = []
    for number, table in enumerate(value, start=1):
        where = f"embeddings #{number}"
        if not isinstance(table, Mapping):
            raise _invalid(source, where, _("is not a table"), example)
        model = table.get("model")
        if not isinstance(model, str) or not model.strip():
            raise _invalid(source, f"{where} model", _("is missing or empty"), example)
        dimension = table.get("dimension")
        if not _is_int(dimension) or dimension <= 0:
            raise _invalid(source, f"{where} dimension", _("must be a positive whole number, not {dimension!r}").format(
                                                           dimension=dimension),
                           example)
        file = table.get("file")
        if not isinstance(file, str):
            raise _invalid(source, f"{where} file", _("is missing"), example)
        _check_path(file, source, f"{where} file")
        if not file.endswith(".npz"):
            raise _invalid(source, f"{where} file", _("'{file}' is not a .npz file").format(file=file), example)
        packs.append(EmbeddingPack(model=model.strip(), dimension=dimension, file=file))
    return tuple(packs)


# -- lessons ----------------------------------------------------------------------------------------


def parse_lesson(text: str, *, lesson_id: str, path: str, content_hash: str) -> Lesson:
    """Split off the YAML front matter; the title falls back to the first H1, then to the id."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    meta: dict[str, Any] = {}
    body = text
    lines = text.split("\n")
    if lines[0].rstrip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].rstrip() == "---"), None)
        if end is None:
            raise CourseInvalid(_("{path}: the front matter that starts on line 1 is never closed.").format(
                                  path=path),
                                hint=_("End it with a line that is exactly '---'."))
        meta = _front_matter("\n".join(lines[1:end]), path)
        body = "\n".join(lines[end + 1:])
    title = meta.get("title")
    if title is not None and (not isinstance(title, str) or not title.strip()):
        raise CourseInvalid(_("{path}: front matter 'title' must be non-empty text, not {title!r}.").format(
                              path=path, title=title),
                            hint=_('Write title: "Loops" (quote it if it contains a colon).'))
    return Lesson(
        id=lesson_id, title=title.strip() if title else (first_h1(body) or lesson_id), body=body,
        content_hash=content_hash, objectives=_str_list(meta, "objectives", path),
        prerequisites=_str_list(meta, "prerequisites", path), path=path)


def first_h1(markdown: str) -> str | None:
    """The text of the first '# ' heading outside fenced code (a '# comment' in code is not one)."""
    fence = ""
    for line in markdown.split("\n"):
        opening = _FENCE_RE.match(line)
        if fence:
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence):
                fence = ""
            continue
        if opening:
            fence = opening.group(1)
            continue
        heading = _H1_RE.match(line)
        if heading and heading.group(1).strip():
            return heading.group(1).strip()
    return None


def _front_matter(text: str, path: str) -> dict[str, Any]:
    try:
        meta = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        # +1 for 0-based, +1 for the opening ---
        where = _(" (line {line})").format(line=mark.line + 2) if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise CourseInvalid(_("{path}: the front matter is not valid YAML{where}: {problem}.").format(
                              path=path, where=where, problem=problem),
                            hint=_("Quote values that contain ':' or '#', and indent list items evenly.")) from exc
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise CourseInvalid(_("{path}: the front matter must be 'key: value' lines, not {name}.").format(
                              path=path, name=type(meta).__name__),
                            hint=_("Write it like:\n---\ntitle: Loops\nobjectives:\n  - ...\n---"))
    return meta


def _str_list(meta: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
    value = meta.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise CourseInvalid(_("{path}: front matter '{key}' must be a list of text items, not {value!r}.").format(
                              path=path, key=key, value=value),
                            hint=_("Write {key}: [a, b] or one '- item' per line.").format(key=key))
    return tuple(item.strip() for item in value)


# -- questions and cross-checks ---------------------------------------------------------------------


def parse_questions(text: str, *, source: str) -> tuple[LabelledQuestion, ...]:
    """Parse the labelled question set ([[questions]] tables) used to measure retrieval."""
    return parse_question_file(text, source=source, course_id="")[0]


def parse_question_file(text: str, *, source: str,
                        course_id: str) -> tuple[tuple[LabelledQuestion, ...], tuple[QuizQuestion, ...]]:
    """The course's questions file: [[questions]] (the retrieval eval set) and [[quiz]] (authored quiz
    questions, shown before generated ones); a file may hold either or both."""
    from app.core.learning.authored import parse_quiz

    example = _('Each [[questions]] table needs question = "...", lesson = "05-loops" and section = "an-anchor".')
    try:
        data = tomllib.loads(text.removeprefix("\ufeff"))
    except tomllib.TOMLDecodeError as exc:
        raise CourseInvalid(_("{source} is not valid TOML: {exc}.").format(
                              source=source, exc=exc), hint=_("Fix the line shown.")) from exc
    quiz = parse_quiz(data["quiz"], course_id=course_id, source=source) if "quiz" in data else ()
    if "questions" not in data:
        if quiz:
            return (), quiz
        raise _invalid(source, "questions", _("has no [[questions]] tables"), example)
    tables = data["questions"]
    if not isinstance(tables, list):
        raise _invalid(source, "questions", _("must be [[questions]] tables"), example)
    questions = []
    for number, table in enumerate(tables, start=1):
        where = f"question #{number}"
        if not isinstance(table, Mapping):
            raise _invalid(source, where, _("is not a table"), example)
        fields = {}
        for key in ("question", "lesson", "section"):
            value = table.get(key)
            if not isinstance(value, str) or not value.strip():
                raise _invalid(source, f"{where} {key}", _("is missing or empty"), example)
            fields[key] = value.strip()
        kind = table.get("kind", "")
        if not isinstance(kind, str):
            raise _invalid(source, f"{where} kind", _("must be text"), _('Write kind = "concept".'))
        questions.append(LabelledQuestion(**fields, kind=kind.strip()))
    return tuple(questions), quiz


def check_course(course: Course) -> None:
    """Cross-file checks: prerequisites name lessons of this course (without cycles), and every
    labelled question points at a section that exists, so an eval never scores against nothing."""
    problems: list[str] = []
    ids = {lesson.id for lesson in course.lessons}
    for lesson in course.lessons:
        for prerequisite in lesson.prerequisites:
            if prerequisite == lesson.id:
                problems.append(_("{path}: lists itself as a prerequisite").format(path=lesson.path))
            elif prerequisite not in ids:
                problems.append(_("{path}: prerequisite '{prerequisite}' is not a lesson of this course").format(
                    path=lesson.path, prerequisite=prerequisite))
    cycle = _prerequisite_cycle(course)
    if cycle:
        problems.append(_("prerequisites go round in a circle: {cycle}").format(cycle=" -> ".join(cycle)))
    anchors: dict[str, set[str]] = {}
    source = course.manifest.questions or "questions"
    for number, question in enumerate(course.questions, start=1):
        target = course.lesson(question.lesson)
        if target is None:
            problems.append(_("{source}: question #{number} names lesson '{lesson}', which is not in the "
                              "course").format(source=source, number=number, lesson=question.lesson))
            continue
        if target.id not in anchors:
            anchors[target.id] = {a for section in split_sections(target.id, target.body) for a in section.anchors}
        if question.section not in anchors[target.id]:
            problems.append(_("{source}: question #{number} names section '{section}', which is not a heading anchor "
                              "of lesson '{lesson}'").format(source=source, number=number, section=question.section,
                                                            lesson=target.id))
    for number, quiz in enumerate(course.quiz, start=1):
        target = course.lesson(quiz.lesson_id)
        if target is None:
            problems.append(_("{source}: quiz #{number} names lesson '{lesson}', which is not in the course").format(
                source=source, number=number, lesson=quiz.lesson_id))
            continue
        if target.id not in anchors:
            anchors[target.id] = {a for section in split_sections(target.id, target.body) for a in section.anchors}
        if quiz.section not in anchors[target.id]:
            problems.append(_("{source}: quiz #{number} names section '{section}', which is not a heading anchor of "
                              "lesson '{lesson}'").format(source=source, number=number, section=quiz.section,
                                                         lesson=target.id))
    if problems:
        extra = len(problems) - 1
        more = ""
        if extra == 1:
            more = _(" (and 1 more problem)")
        elif extra > 1:
            more = _(" (and {count} more problems)").format(count=extra)
        raise CourseInvalid(_("Course '{id}': {problem}{more}.").format(id=course.id, problem=problems[0], more=more),
                            hint=_("Prerequisites are lesson ids (file names without .md); sections are heading "
                                   "anchors like 'stopping-a-loop-early'."),
                            debug_context={"problems": problems})


def _prerequisite_cycle(course: Course) -> list[str]:
    """One prerequisite cycle as a path of lesson ids, or []. Iterative: a course may be long."""
    graph = {lesson.id: [p for p in lesson.prerequisites if p != lesson.id] for lesson in course.lessons}
    done: set[str] = set()
    for start in graph:
        if start in done:
            continue
        path = [start]
        todo = [iter(graph[start])]
        while todo:
            nxt = next(todo[-1], None)
            if nxt is None:
                done.add(path.pop())
                todo.pop()
            elif nxt in path:
                return [*path[path.index(nxt):], nxt]
            elif nxt in graph and nxt not in done:
                path.append(nxt)
                todo.append(iter(graph[nxt]))
    return []


# -- helpers ----------------------------------------------------------------------------------------


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _invalid(source: str, field: str, problem: str, hint: str) -> CourseInvalid:
    return CourseInvalid(_("{source}: '{field}' {problem}.").format(source=source, field=field, problem=problem),
                         hint=hint, debug_context={"file": source, "field": field})


def _required_str(data: Mapping[str, Any], key: str, source: str, hint: str) -> str:
    value = data.get(key)
    if value is None:
        raise _invalid(source, key, _("is missing"), hint)
    if not isinstance(value, str) or not value.strip():
        raise _invalid(source, key, _("must be non-empty text, not {value!r}").format(value=value), hint)
    return value.strip()


def _check_path(path: str, source: str, field: str) -> None:
    reason = unsafe_path_reason(path)
    if reason:
        raise _invalid(source, field, _("path '{path}' {reason}").format(path=path, reason=reason),
                       _("Use a relative path inside the course folder, with '/' between folders, "
                         "like lessons/01-intro.md."))
