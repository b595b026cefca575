from __future__ import annotations

import logging

from app.services.logging_setup import configure_logging


def test_log_file_in_log_dir_and_console_only_with_debug(tmp_path, capsys):
    log_file = configure_logging(tmp_path / "logs", debug=False)
    logging.getLogger("lantern.test").warning("hello file")
    assert log_file is not None and "hello file" in log_file.read_text()
    assert "hello file" not in capsys.readouterr().err
    configure_logging(tmp_path / "logs", debug=True)
    logging.getLogger("lantern.test").debug("hello console")
    assert "hello console" in capsys.readouterr().err
    configure_logging(tmp_path / "logs", debug=False)  # leave the root logger quiet for other tests


def test_unwritable_log_dir_falls_back_to_console(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert configure_logging(blocker / "logs") is None
