"""The `_()` marker: translation of the source text in the active language, else the source."""

from __future__ import annotations

import threading

import pytest

from app.core import i18n
from app.core.i18n import N_, _, active_language, set_catalog
from app.services import i18n_setup


def test_source_text_comes_back_in_english():
    assert active_language() == "en"
    assert _("Nothing to translate") == "Nothing to translate"


def test_translation_then_placeholders_filled_after():
    set_catalog("vi", {"The course '{id}' has no labelled questions.":
                       "Khóa học '{id}' không có câu hỏi nào được gắn nhãn."})
    assert active_language() == "vi"
    text = _("The course '{id}' has no labelled questions.").format(id="python-101")
    assert text == "Khóa học 'python-101' không có câu hỏi nào được gắn nhãn."


def test_missing_or_empty_entries_fall_back_to_the_source():
    set_catalog("vi", {"Blank": "", "Known": "Đã biết"})
    assert _("Blank") == "Blank"
    assert _("Unknown {n}").format(n=3) == "Unknown 3"
    assert _("Known") == "Đã biết"


def test_set_catalog_copies_and_reset_goes_back_to_english():
    table = {"Yes": "Có"}
    set_catalog("vi", table)
    table["Yes"] = "changed"
    assert _("Yes") == "Có"
    i18n.reset()
    assert active_language() == "en" and _("Yes") == "Yes"


def test_n_marks_without_translating():
    set_catalog("vi", {"Later": "Sau"})
    label = N_("Later")
    assert label == "Later" and _(label) == "Sau"


def test_readers_on_other_threads_see_a_whole_language():
    set_catalog("vi", {"a": "A-vi", "b": "B-vi"})
    seen: list[tuple[str, str]] = []

    def read() -> None:
        for _i in range(2000):
            seen.append((_("a"), _("b")))

    worker = threading.Thread(target=read)
    worker.start()
    for n in range(200):
        set_catalog("vi", {"a": "A-vi", "b": "B-vi"}) if n % 2 else i18n.reset()
    worker.join()
    assert set(seen) <= {("A-vi", "B-vi"), ("a", "b")}


def test_install_language_loads_the_shipped_catalog():
    assert i18n_setup.install_language("vi") == "vi"
    assert active_language() == "vi"
    assert _("Cancel") == "Hủy"
    assert i18n_setup.install_language("en") == "en"
    assert _("Cancel") == "Cancel"


def test_system_language_resolution():
    resolve = i18n_setup.resolve_language
    assert resolve("system", ["vi_VN.UTF-8", "en_US"]) == "vi"
    assert resolve("system", ["fr-FR", "vi"]) == "vi"
    assert resolve("system", ["en-GB", "vi-VN"]) == "en"
    assert resolve("system", ["C", "vi_VN"]) == "vi"
    assert resolve("system", []) == "en"
    assert resolve("de") == "en"
    assert resolve("vi") == "vi" and resolve("en") == "en"


def test_system_language_reads_the_environment(monkeypatch):
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "vi_VN.UTF-8")
    assert i18n_setup.resolve_language("system") == "vi"
    monkeypatch.setenv("LANGUAGE", "en_GB:vi")
    assert i18n_setup.resolve_language("system") == "en"


def test_a_missing_catalog_falls_back_to_english(monkeypatch, tmp_path):
    monkeypatch.setattr(i18n_setup, "catalog_path", lambda code: tmp_path / f"{code}.json")
    assert i18n_setup.install_language("vi") == "en"
    assert active_language() == "en"
    (tmp_path / "vi.json").write_text("[1, 2]", encoding="utf-8")
    assert i18n_setup.install_language("vi") == "en"


def test_core_messages_follow_the_language():
    from app.core.errors import LanternError
    from app.core.model_spec import parse_model_spec
    from app.core.tutor import not_covered_reply

    english = not_covered_reply("Python")
    assert english.startswith('The course "Python" doesn\'t cover that')
    i18n_setup.install_language("vi")
    reply = not_covered_reply("Python")
    assert reply != english and '"Python"' in reply
    with pytest.raises(LanternError) as caught:
        parse_model_spec("", catalog_ids=set())
    assert caught.value.user_message == _("No model was named.") != "No model was named."
    assert caught.value.hint is not None and "lantern models recommend --all" in caught.value.hint
