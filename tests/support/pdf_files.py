"""Real PDFs for import tests: a Helvetica text object per page, as a word processor would write it."""

from __future__ import annotations

from pathlib import Path

from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject


def write_pdf(path: Path, pages: list[str] | list[list[str]], *, title: str | None = None,
              password: str | None = None) -> Path:
    """Each page is one line of text, or a list of lines from the top down (header, body, footer)."""
    writer = PdfWriter()
    for page_text in pages:
        page = writer.add_blank_page(width=612, height=792)
        font = DictionaryObject({NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
                                 NameObject("/BaseFont"): NameObject("/Helvetica")})
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})})
        content = DecodedStreamObject()
        if isinstance(page_text, str):
            content.set_data(f"BT /F1 12 Tf 72 720 Td ({page_text}) Tj ET".encode())
        else:
            moves = " ".join(f"0 -40 Td ({line}) Tj" for line in page_text)
            content.set_data(f"BT /F1 12 Tf 72 760 Td {moves} ET".encode())
        page[NameObject("/Contents")] = writer._add_object(content)
    if title:
        writer.add_metadata({"/Title": title})
    if password:
        writer.encrypt(user_password=password, algorithm="RC4-128")
    with path.open("wb") as f:
        writer.write(f)
    return path
