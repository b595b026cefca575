"""Small real courses made from the starter course, for tests, benchmarks and screenshots."""

from __future__ import annotations

import zipfile
from pathlib import Path

from app.services.knowledge.course_library import builtin_course_dirs

STARTER = next(d for d in builtin_course_dirs() if (d / "python-from-zero").is_dir()) / "python-from-zero"


def loops_pack(folder: Path) -> Path:
    """A one-lesson course pack (zip, id "loops") made from the starter course's loops lesson, so
    indexing takes a second instead of twenty."""
    lesson = (STARTER / "lessons" / "05-loops.md").read_text(encoding="utf-8")
    lesson = "".join(line for line in lesson.splitlines(keepends=True) if not line.startswith("prerequisites:"))
    pack = folder / "loops.zip"
    with zipfile.ZipFile(pack, "w") as zf:
        zf.writestr("loops/course.toml", 'id = "loops"\ntitle = "Loops in Python"\nversion = "1.0.0"\n'
                                         'language = "en"\nlessons = ["lessons/05-loops.md"]\n')
        zf.writestr("loops/lessons/05-loops.md", lesson)
    return pack
