"""Render resources/icons/lantern.svg into the icon files the installers need.

lantern.png (512 px: window icon, Linux .desktop/AppStream), lantern.ico (Windows: exe and setup,
16-256 px) and lantern.icns (macOS .app). The outputs are committed; run this again after editing
the SVG:  python installers/make_icons.py   (needs PySide6, from the app, and Pillow).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"


def render_png(svg: Path, size: int) -> bytes:
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    QSvgRenderer(str(svg)).render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(data.data())


def main() -> None:
    from PIL import Image

    svg = ICONS / "lantern.svg"
    big = Image.open(io.BytesIO(render_png(svg, 1024))).convert("RGBA")
    (ICONS / "lantern.png").write_bytes(render_png(svg, 512))
    big.save(ICONS / "lantern.ico", sizes=[(s, s) for s in (16, 24, 32, 48, 64, 128, 256)])
    big.save(ICONS / "lantern.icns")
    print("wrote", ", ".join(p.name for p in sorted(ICONS.iterdir())))


if __name__ == "__main__":
    main()
