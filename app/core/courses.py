"""Courses, lessons, sections and chunks: the shapes every part of Lantern's course handling shares.

A course on disk (a folder, or the same folder zipped into a single-file pack):

    course.toml            the manifest (COURSE_MANIFEST), parsed by app.core.course_format
    lessons/*.md           Markdown lessons with YAML front matter (title, objectives, prerequisites)
    questions.toml         optional: labelled questions, the retrieval eval set
    embeddings/*.npz       optional: precomputed chunk vectors, tagged with the embedding model id

Lesson ids are the lesson file's stem ("05-loops"); sections are addressed by the GitHub-style
anchor of their heading ("stopping-a-loop-early"), so a citation is "course/lesson#anchor".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

COURSE_MANIFEST = "course.toml"
COURSE_FORMAT_VERSION = 1


@dataclass(frozen=True)
class EmbeddingPack:
    """Precomputed chunk vectors shipped with a course, usable only with the same embedding model."""

    model: str  # the embedding model id they were made with, e.g. "all-minilm-l6-v2"
    dimension: int
    file: str  # relative to the course root, e.g. "embeddings/all-minilm-l6-v2.npz"


@dataclass(frozen=True)
class CourseManifest:
    id: str
    title: str
    version: str
    language: str  # BCP 47 tag: "en", "vi"
    description: str
    lessons: tuple[str, ...]  # lesson files relative to the course root, in teaching order
    embeddings: tuple[EmbeddingPack, ...] = ()
    questions: str | None = None  # relative path of the labelled question set, if any
    format: int = COURSE_FORMAT_VERSION


@dataclass(frozen=True)
class Lesson:
    id: str  # the lesson file's stem
    title: str
    body: str  # Markdown without the front matter
    content_hash: str  # sha256 of the lesson file's bytes: what incremental indexing compares
    objectives: tuple[str, ...] = ()
    prerequisites: tuple[str, ...] = ()  # lesson ids
    path: str = ""  # relative to the course root


@dataclass(frozen=True)
class LabelledQuestion:
    """One retrieval eval question and the lesson section that answers it."""

    question: str
    lesson: str  # lesson id
    section: str  # section anchor within the lesson
    kind: str = ""  # free-form: "concept", "how-to", "follow-up", ...


@dataclass(frozen=True)
class Course:
    manifest: CourseManifest
    lessons: tuple[Lesson, ...]
    questions: tuple[LabelledQuestion, ...] = ()
    quiz: tuple[Any, ...] = ()  # app.core.learning.quiz.QuizQuestion: questions the author wrote

    @property
    def id(self) -> str:
        return self.manifest.id

    @property
    def title(self) -> str:
        return self.manifest.title

    def lesson(self, lesson_id: str) -> Lesson | None:
        return next((lesson for lesson in self.lessons if lesson.id == lesson_id), None)


@dataclass(frozen=True)
class Section:
    """A heading and the text under it, down to the next heading of any level."""

    lesson_id: str
    titles: tuple[str, ...]  # heading path below the lesson title, outermost first ("Loops", "break")
    anchors: tuple[str, ...]  # the matching anchors, outermost first
    text: str  # Markdown under the heading, without the heading line itself
    level: int  # heading level (1-6); 0 for text before the first heading

    @property
    def anchor(self) -> str:
        return self.anchors[-1] if self.anchors else ""


@dataclass(frozen=True)
class CourseChunk:
    """One piece of a lesson, sized for the embedding model, that retrieval returns and answers cite."""

    lesson_id: str
    ordinal: int  # position within the lesson
    titles: tuple[str, ...]  # section path ("Loops", "Stopping a loop early")
    anchors: tuple[str, ...]
    text: str  # the chunk's own text (what is shown and cited)
    token_count: int
    lesson_title: str = ""
    chunk_hash: str = field(default="", compare=False)  # sha256 of embed_text: keys precomputed vectors

    @property
    def anchor(self) -> str:
        return self.anchors[-1] if self.anchors else ""

    @property
    def embed_text(self) -> str:
        """What is embedded and indexed: the heading path gives a short chunk its topic."""
        from app.core.chunking import heading_path

        path = heading_path(self.lesson_title, self.titles)
        return f"{path}\n\n{self.text}" if path else self.text

    def covers(self, lesson_id: str, anchor: str) -> bool:
        """True if this chunk lies in that section (or in one of its subsections)."""
        return self.lesson_id == lesson_id and (not anchor or anchor in self.anchors)
