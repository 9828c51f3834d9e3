"""Parse untrusted XML: no entity expansion, no DTD loading, no network, bounded size and depth.

Timeline files come from anywhere (a watched folder, a plugin); every XML reader in model/ parses
through here, and every failure becomes one TimelineParseError.
"""

from __future__ import annotations

import os
import re
import stat
import threading
from pathlib import Path
from typing import BinaryIO

from lxml import etree

from model.timeline.errors import TimelineParseError

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
MAX_DEPTH = 256  # libxml2 refuses deeper documents unless huge_tree is on (it never is here)

_local = threading.local()


def open_regular(path: str | Path, follow_symlinks: bool = True) -> BinaryIO:
    """Open a regular file for reading, never blocking: a FIFO, device or socket under a timeline's
    name would block a plain open() (or read) for good. O_NONBLOCK makes the open return at once
    and fstat on the open descriptor (no race with a rename) refuses anything but a regular file.
    Without `follow_symlinks`, a symlink is refused too (O_NOFOLLOW)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "not a regular file", str(path))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_capped(path: str | Path, max_bytes: int) -> bytes:
    """The file's bytes, refusing anything larger than `max_bytes` before reading it all."""
    try:
        with open_regular(path) as fh:
            data = fh.read(max_bytes + 1)
    except OSError as err:
        raise TimelineParseError(str(path), 0, f"cannot open: {err.strerror or err}") from None
    if len(data) > max_bytes:
        raise TimelineParseError(str(path), 0, f"file is larger than the {max_bytes}-byte limit")
    return data


def parse_xml_bytes(data: bytes, path: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """Parse untrusted XML: no entity expansion, no DTD loading, no network, bounded size and depth.

    A DOCTYPE may only name the root (`<!DOCTYPE xmeml>`, as every NLE writes it): entity
    declarations and external DTDs are refused rather than silently ignored.
    """
    if len(data) > max_bytes:
        raise TimelineParseError(path, 0, f"document is larger than the {max_bytes}-byte limit")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as err:
        raise TimelineParseError(path, err.lineno or 0, _syntax_reason(err)) from None
    except (etree.LxmlError, ValueError, TypeError, MemoryError, RecursionError) as err:
        raise TimelineParseError(path, 0, f"not well-formed XML: {err}") from None
    if root is None:
        raise TimelineParseError(path, 0, "empty document")
    _check_doctype(root.getroottree().docinfo, path)
    return root


def _parser() -> etree.XMLParser:
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
            remove_blank_text=True,  # a quarter faster, and whitespace carries nothing in xmeml
        )
        _local.parser = parser
    return parser


def _syntax_reason(err: etree.XMLSyntaxError) -> str:
    """The kind of problem, never the file's text: libxml2's messages quote names and values from
    the document (a tag, an entity, an attribute), which may be anything the file holds."""
    message = str(err.msg or err)
    if "Excessive depth" in message:
        return f"elements nested deeper than {MAX_DEPTH} levels"
    if "amplification" in message or "entity" in message.lower():
        return "entities are not allowed"
    return f"not well-formed XML: {problem_kind(message)}"


def problem_kind(message: str) -> str:
    """A parser's message without what it quotes from the document: `Opening and ending tag
    mismatch: a line 1 and b` -> `Opening and ending tag mismatch`, `Premature end of data in
    tag X line 1` -> `Premature end of data`, `Attribute a redefined` -> `Attribute redefined`."""
    text = re.sub(r",? line \d+, column \d+\s*$", "", message.strip())
    head, sep, _rest = text.partition(": ")
    if sep and " " in head:
        text = head  # "<what went wrong>: <names from the document>"
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "", text)
    text = re.sub(r"\s+in tag\s+\S+(\s+line \d+)?", "", text)  # Premature end of data in tag X line 1
    text = re.sub(r"^(Attribute|Element|Namespace prefix)\s+\S+\s+(?=(redefined|is|not|on|for)\b)", r"\1 ", text)
    text = re.sub(r"\b(for attribute|for element|prefix|attribute)\s+[^\s,]+$", r"\1", text)
    return re.sub(r"\s+", " ", text).strip() or "syntax error"


def _check_doctype(docinfo: etree.DocInfo, path: str) -> None:
    if docinfo.system_url or docinfo.public_id:
        raise TimelineParseError(path, 1, "the DOCTYPE refers to an external DTD, which is not allowed")
    dtd = docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.entities()):
        raise TimelineParseError(path, 1, "the DOCTYPE declares entities, which are not allowed")
