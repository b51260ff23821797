"""Turning an uploaded file into text: txt, md, html and pdf."""

import io
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import PurePath

from functions._shared.errors import CCOSError, InvalidInput


class UnsupportedMediaType(CCOSError):
    status = 415
    code = "unsupported_file_type"
    title = "Unsupported file type"


CONTENT_TYPES = {
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
}
_BLOCK_TAGS = frozenset(
    [
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "tr",
        "table",
        "section",
        "article",
        "header",
        "footer",
        "pre",
        "blockquote",
        "dt",
        "dd",
    ]
)
_SKIPPED_TAGS = frozenset({"script", "style", "noscript", "template", "svg", "head"})


@dataclass(frozen=True)
class ExtractedText:
    text: str
    content_type: str
    title_hint: str | None


def content_type_for(filename: str) -> str:
    content_type = CONTENT_TYPES.get(PurePath(filename).suffix.lower())
    if content_type is None:
        allowed = ", ".join(sorted(CONTENT_TYPES))
        raise UnsupportedMediaType(f"Files of this type are not accepted; allowed: {allowed}.")
    return content_type


def decode_text(data: bytes) -> str:
    # Korean documents still arrive in CP949 (EUC-KR's superset) from older Windows tools.
    for encoding in ("utf-8-sig", "cp949"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidInput("The file is not UTF-8 or CP949 text.", code="unreadable_file")


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: str | None = None
        self._skipping = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
        if tag == "title":
            self._in_title = True
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS and self._skipping:
            self._skipping -= 1
        if tag == "title":
            self._in_title = False
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title and self.title is None and data.strip():
            self.title = data.strip()
        if not self._skipping:
            self.parts.append(data)


def html_to_text(html: str) -> tuple[str, str | None]:
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    lines = (
        re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in "".join(collector.parts).split("\n")
    )
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip(), collector.title


def pdf_to_text(data: bytes) -> str:
    from pypdf import PdfReader  # noqa: PLC0415  (heavy; only for PDFs)
    from pypdf.errors import PyPdfError  # noqa: PLC0415

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise InvalidInput("Encrypted PDFs are not accepted.", code="unreadable_file")
        return "\n\n".join((page.extract_text() or "").strip() for page in reader.pages)
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as error:
        raise InvalidInput("The PDF could not be read.", code="unreadable_file") from error


def _first_heading(text: str) -> str | None:
    for line in text.splitlines():
        stripped = line.strip().lstrip("#").strip()
        if stripped:
            return stripped[:200]
    return None


def extract_text(filename: str, data: bytes) -> ExtractedText:
    content_type = content_type_for(filename)
    if content_type == "application/pdf":
        text = pdf_to_text(data)
        return ExtractedText(text=text, content_type=content_type, title_hint=None)
    decoded = decode_text(data)
    if content_type == "text/html":
        text, title = html_to_text(decoded)
        return ExtractedText(text=text, content_type=content_type, title_hint=title)
    title_hint = _first_heading(decoded) if content_type == "text/markdown" else None
    return ExtractedText(text=decoded, content_type=content_type, title_hint=title_hint)
