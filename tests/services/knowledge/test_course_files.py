"""Reading course folders and unpacking course packs: real files and real zips, including hostile ones."""

from __future__ import annotations

import hashlib
import stat
import struct
import warnings
import zipfile
from pathlib import Path

import pytest

from app.core.errors import CourseInvalid
from app.services.knowledge.course_files import (
    MAX_PACK_ENTRIES,
    MAX_PACK_FILE_BYTES,
    MiB,
    extract_pack,
    inspect_pack,
    read_course,
)

INTRO = "---\ntitle: Welcome\nobjectives: [Say hello]\n---\n# Intro\n\n## Saying hello\n\nprint('hi')\n"
LOOPS = "---\nprerequisites: [01-intro]\n---\n# Loops\n\n## Stopping a loop early\n\nUse break.\n"
QUESTIONS = ('[[questions]]\nquestion = "How do I stop a loop?"\nlesson = "02-loops"\n'
             'section = "stopping-a-loop-early"\n')


def manifest(course_id: str = "demo", *, version: str = "1.0.0", lessons: tuple[str, ...] = ("01-intro", "02-loops"),
             questions: bool = True, title: str = "Demo course") -> str:
    listed = ", ".join(f'"lessons/{name}.md"' for name in lessons)
    text = (f'id = "{course_id}"\ntitle = "{title}"\nversion = "{version}"\nlanguage = "en"\n'
            f"lessons = [{listed}]\n")
    return text + ('questions = "questions.toml"\n' if questions else "")


def course_files(course_id: str = "demo", *, version: str = "1.0.0", title: str = "Demo course") -> dict[str, bytes]:
    """The files of a small valid course, by path relative to its root."""
    return {"course.toml": manifest(course_id, version=version, title=title).encode(),
            "lessons/01-intro.md": INTRO.encode(), "lessons/02-loops.md": LOOPS.encode(),
            "questions.toml": QUESTIONS.encode()}


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def make_zip(path: Path, files: dict[str, bytes] | list[tuple[str | zipfile.ZipInfo, bytes]], *,
             compression: int = zipfile.ZIP_DEFLATED) -> Path:
    items = list(files.items()) if isinstance(files, dict) else files
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate names some tests want
        with zipfile.ZipFile(path, "w", compression=compression) as zf:
            for name, data in items:
                zf.writestr(name, data)
    return path


def patch_entry(path: Path, name: str, *, file_size: int | None = None, compress_size: int | None = None,
                flag_bits: int | None = None) -> None:
    """Rewrite header fields of one entry in both its local header and the central directory, as a
    hostile pack's author would (zipfile trusts the central directory)."""
    data = bytearray(path.read_bytes())
    encoded = name.encode()
    # (signature, offsets of: flags, compressed size, size, name length, name) in each kind of header
    headers = ((b"PK\x01\x02", 8, 20, 24, 28, 46), (b"PK\x03\x04", 6, 18, 22, 26, 30))
    for signature, flags_at, csize_at, usize_at, name_len_at, name_at in headers:
        start = 0
        while (at := data.find(signature, start)) >= 0:
            start = at + 4
            name_len = struct.unpack_from("<H", data, at + name_len_at)[0]
            if bytes(data[at + name_at:at + name_at + name_len]) != encoded:
                continue
            if file_size is not None:
                struct.pack_into("<I", data, at + usize_at, file_size)
            if compress_size is not None:
                struct.pack_into("<I", data, at + csize_at, compress_size)
            if flag_bits is not None:
                struct.pack_into("<H", data, at + flags_at, flag_bits)
    path.write_bytes(bytes(data))


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# -- course folders -------------------------------------------------------------------------------


def test_read_course_folder(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "demo", {**course_files(), "embeddings/m.npz": b"x"})
    embeddings = '\n[[embeddings]]\nmodel = "m"\ndimension = 3\nfile = "embeddings/m.npz"\n'
    (root / "course.toml").write_text(manifest() + embeddings)
    course = read_course(root)
    assert course.id == "demo" and [lesson.id for lesson in course.lessons] == ["01-intro", "02-loops"]
    intro = course.lessons[0]
    assert intro.title == "Welcome" and intro.objectives == ("Say hello",) and intro.path == "lessons/01-intro.md"
    assert intro.content_hash == hashlib.sha256(INTRO.encode()).hexdigest()
    assert course.lessons[1].prerequisites == ("01-intro",)
    assert course.questions[0].section == "stopping-a-loop-early"


def expect_invalid(root: Path, *words: str) -> CourseInvalid:
    with pytest.raises(CourseInvalid) as caught:
        read_course(root)
    message = caught.value.user_message
    assert all(word in message for word in words), message
    assert caught.value.hint
    return caught.value


def test_non_utf8_lesson_is_named(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "demo", {**course_files(), "lessons/02-loops.md": "# Boucles é".encode("latin-1")})
    error = expect_invalid(root, "lessons/02-loops.md", "not UTF-8")
    assert "UTF-8" in (error.hint or "")


def test_symlinked_lesson_outside_root_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.md"
    secret.write_text("# Secret\n")
    root = write_tree(tmp_path / "demo", course_files())
    (root / "lessons/02-loops.md").unlink()
    (root / "lessons/02-loops.md").symlink_to(secret)
    expect_invalid(root, "lessons/02-loops.md", "outside the course folder")


def test_symlinked_folder_outside_root_is_refused(tmp_path: Path) -> None:
    outside = write_tree(tmp_path / "elsewhere", {"01-intro.md": INTRO.encode(), "02-loops.md": LOOPS.encode()})
    root = write_tree(tmp_path / "demo", {k: v for k, v in course_files().items() if not k.startswith("lessons/")})
    (root / "lessons").symlink_to(outside, target_is_directory=True)
    expect_invalid(root, "outside the course folder")


def test_symlink_loop_is_refused(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "demo", course_files())
    (root / "lessons/02-loops.md").unlink()
    (root / "lessons/02-loops.md").symlink_to(root / "lessons/02-loops.md")
    expect_invalid(root, "lessons/02-loops.md", "cannot be opened")


def test_symlink_inside_root_is_fine(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "demo", {**course_files(), "src/loops.md": LOOPS.encode()})
    (root / "lessons/02-loops.md").unlink()
    (root / "lessons/02-loops.md").symlink_to(root / "src/loops.md")
    assert read_course(root).lessons[1].title == "Loops"


@pytest.mark.parametrize(("change", "words"), [
    ({"lessons/02-loops.md": None}, ("lessons/02-loops.md", "missing")),
    ({"questions.toml": None}, ("questions.toml", "missing")),
    ({"course.toml": None}, ("course.toml", "missing")),
    ({"lessons/01-intro.md": b"x" * (2 * MiB + 1)}, ("lessons/01-intro.md", "larger than 2 MiB")),
    ({"questions.toml": QUESTIONS.replace("stopping-a-loop-early", "nope").encode()}, ("section 'nope'",)),
    ({"course.toml": manifest(lessons=("01-intro", "02-loops")).replace("lessons/02-loops", "x/01-intro").encode()},
     ("would both be lesson '01-intro'",)),
])
def test_broken_folder(tmp_path: Path, change: dict[str, bytes | None], words: tuple[str, ...]) -> None:
    files = {**course_files(), **{k: v for k, v in change.items() if v is not None}}
    root = write_tree(tmp_path / "demo", {k: v for k, v in files.items() if change.get(k, b"") is not None})
    expect_invalid(root, *words)


def test_missing_embeddings_file(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "demo", course_files())
    (root / "course.toml").write_text(manifest() + '[[embeddings]]\nmodel = "m"\ndimension = 3\nfile = "e/m.npz"\n')
    expect_invalid(root, "e/m.npz", "missing")


def test_not_a_folder(tmp_path: Path) -> None:
    expect_invalid(tmp_path / "nothing", "not a course folder")


# -- packs ----------------------------------------------------------------------------------------


def test_pack_at_top(tmp_path: Path) -> None:
    pack = make_zip(tmp_path / "demo.zip", {**course_files(), "images/a.png": b"\x89PNG"})
    info = inspect_pack(pack)
    assert (info.manifest.id, info.prefix, info.file_count) == ("demo", "", 5)
    extract_pack(pack, tmp_path / "out")
    assert tree(tmp_path / "out") == {**course_files(), "images/a.png": b"\x89PNG"}
    assert read_course(tmp_path / "out").id == "demo"


def test_pack_in_one_top_level_folder(tmp_path: Path) -> None:
    files = [(f"Demo Course/{k}", v) for k, v in course_files().items()]
    files += [("Demo Course/", b""), ("__MACOSX/Demo Course/._course.toml", b"\x00\x05")]
    pack = make_zip(tmp_path / "demo.zip", files)
    assert inspect_pack(pack).prefix == "Demo Course/"
    extract_pack(pack, tmp_path / "out")
    assert tree(tmp_path / "out") == course_files()  # the prefix is stripped, Finder's extras left out


def test_extract_into_existing_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    extract_pack(make_zip(tmp_path / "demo.zip", course_files()), tmp_path / "out")
    assert read_course(tmp_path / "out").id == "demo"


def symlink_entry() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("lessons/link.md")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def many_entries() -> list[tuple[str | zipfile.ZipInfo, bytes]]:
    return [(f"f{i}.txt", b"") for i in range(MAX_PACK_ENTRIES + 1)]


BAD_PACKS: dict[str, tuple[list[tuple[str | zipfile.ZipInfo, bytes]], tuple[str, ...]]] = {
    "traversal": ([("../evil.md", b"x")], ("'../evil.md'", "contains '..'")),
    "deep traversal": ([("lessons/../../evil.md", b"x")], ("contains '..'",)),
    "absolute": ([("/etc/evil.md", b"x")], ("absolute path",)),
    "backslash": ([("..\\evil.md", b"x")], ("backslash",)),
    "drive letter": ([("C:/evil.md", b"x")], ("drive letter",)),
    "symlink": ([(symlink_entry(), b"/etc/passwd")], ("symbolic link", "lessons/link.md")),
    "duplicate": ([("lessons/01-intro.md", b"again")], ("two entries named 'lessons/01-intro.md'",)),
    "case duplicate": ([("lessons/01-INTRO.md", b"again")], ("two entries named",)),
    "too many": (many_entries(), (f"at most {MAX_PACK_ENTRIES}",)),
}


@pytest.mark.parametrize("case", list(BAD_PACKS))
def test_hostile_pack_is_refused(tmp_path: Path, case: str) -> None:
    extra, words = BAD_PACKS[case]
    pack = make_zip(tmp_path / "bad.zip", [*course_files().items(), *extra])
    for action in (lambda: inspect_pack(pack), lambda: extract_pack(pack, tmp_path / "out")):
        with pytest.raises(CourseInvalid) as caught:
            action()
        assert all(w in caught.value.user_message for w in words), caught.value.user_message
        assert "bad.zip" in caught.value.user_message and caught.value.hint
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "evil.md").exists()


def test_nul_in_entry_name_is_refused(tmp_path: Path) -> None:
    pack = make_zip(tmp_path / "bad.zip", [*course_files().items(), ("lessons/aXb.md", b"x")])
    pack.write_bytes(pack.read_bytes().replace(b"lessons/aXb.md", b"lessons/a\x00b.md"))
    with pytest.raises(CourseInvalid, match="NUL"):
        extract_pack(pack, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_encrypted_entry_is_refused(tmp_path: Path) -> None:
    pack = make_zip(tmp_path / "bad.zip", course_files())
    patch_entry(pack, "lessons/02-loops.md", flag_bits=0x1)
    with pytest.raises(CourseInvalid, match="password-protected"):
        inspect_pack(pack)


def test_oversized_declared_file(tmp_path: Path) -> None:
    pack = make_zip(tmp_path / "bad.zip", [*course_files().items(), ("big.bin", b"x" * 100)],
                    compression=zipfile.ZIP_STORED)
    patch_entry(pack, "big.bin", file_size=MAX_PACK_FILE_BYTES + 1, compress_size=MAX_PACK_FILE_BYTES + 1)
    with pytest.raises(CourseInvalid, match="one file in a course may be at most 50 MiB"):
        extract_pack(pack, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_oversized_declared_total(tmp_path: Path) -> None:
    names = [f"data/{i}.bin" for i in range(5)]
    pack = make_zip(tmp_path / "bad.zip", [*course_files().items(), *((n, b"x") for n in names)],
                    compression=zipfile.ZIP_STORED)
    for name in names:  # 5 x 45 MiB, each plausible alone
        patch_entry(pack, name, file_size=45 * MiB, compress_size=45 * MiB)
    with pytest.raises(CourseInvalid, match="more than 200 MiB"):
        extract_pack(pack, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_compression_bomb(tmp_path: Path) -> None:
    pack = make_zip(tmp_path / "bomb.zip", [*course_files().items(), ("zeros.bin", bytes(20 * MiB))])
    assert zipfile.ZipFile(pack).getinfo("zeros.bin").compress_size < 100_000
    with pytest.raises(CourseInvalid, match="compressed more than 200 times"):
        extract_pack(pack, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_header_understating_the_size_is_stopped_while_extracting(tmp_path: Path) -> None:
    pack = make_zip(tmp_path / "liar.zip", [*course_files().items(), ("zz/data.bin", bytes(range(256)) * 8192)])
    patch_entry(pack, "zz/data.bin", file_size=1000)  # 2 MiB really; 1000 bytes says the header
    inspect_pack(pack)  # the headers alone look fine
    with pytest.raises(CourseInvalid, match="damaged") as caught:
        extract_pack(pack, tmp_path / "out")
    assert "zz/data.bin" in caught.value.user_message
    assert not (tmp_path / "out").exists()


def test_header_overstating_the_size_is_refused(tmp_path: Path) -> None:
    pack = make_zip(tmp_path / "liar.zip", [*course_files().items(), ("zz/data.bin", b"abc" * 300)])
    patch_entry(pack, "zz/data.bin", file_size=5000)
    with pytest.raises(CourseInvalid, match="shorter than its header says"):
        extract_pack(pack, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_corrupt_entry_data(tmp_path: Path) -> None:
    pack = make_zip(tmp_path / "bad.zip", [*course_files().items(), ("zz/data.bin", bytes(range(256)) * 64)],
                    compression=zipfile.ZIP_STORED)
    data = bytearray(pack.read_bytes())
    at = data.find(bytes(range(256)))
    data[at + 10:at + 20] = b"\xff" * 10
    pack.write_bytes(bytes(data))
    (tmp_path / "out").mkdir()
    with pytest.raises(CourseInvalid, match="damaged"):
        extract_pack(pack, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []  # an existing folder is left empty, as it was


@pytest.mark.parametrize(("content", "words"), [
    (b"just text, not a zip", "not a zip file"),
    (None, "not a zip file"),  # a real pack cut in half
])
def test_not_a_zip(tmp_path: Path, content: bytes | None, words: str) -> None:
    pack = tmp_path / "demo.zip"
    if content is None:
        whole = make_zip(tmp_path / "whole.zip", course_files()).read_bytes()
        content = whole[: len(whole) // 2]
    pack.write_bytes(content)
    with pytest.raises(CourseInvalid, match=words):
        extract_pack(pack, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("files", "words"), [
    ({"lessons/01-intro.md": b"x"}, "no course.toml"),
    ({"a/course.toml": b"", "b/course.toml": b""}, "no course.toml"),
    ({"course.toml": b'id = "x"\n'}, "'title' is missing"),
    ({"course.toml": "id = 'é'".encode("latin-1")}, "not UTF-8"),
])
def test_pack_without_a_usable_manifest(tmp_path: Path, files: dict[str, bytes], words: str) -> None:
    with pytest.raises(CourseInvalid, match=words):
        inspect_pack(make_zip(tmp_path / "x.zip", files))
