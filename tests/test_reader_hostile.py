"""Hostile input: entities, external DTDs, oversize files and deep nesting are refused fast and cleanly."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest

from model.timeline.errors import TimelineParseError
from model.timeline.formats import read_timeline
from model.timeline.xmeml import read_xmeml, read_xmeml_bytes

SECRET = "TOP-SECRET-7f3a9c"
SEQUENCE = (
    "<sequence><name>{name}</name><rate><timebase>25</timebase></rate>"
    "<media><video><track><clipitem><name>{name}</name><start>0</start><end>10</end>"
    "<file id='f'><name>{name}</name><pathurl>{name}</pathurl></file></clipitem></track></video></media></sequence>"
)


@pytest.fixture()
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET)
    return path


def _refused(tmp_path: Path, document: str | bytes, match: str, **kwargs) -> TimelineParseError:
    """Read through both readers; each must refuse within 2 s, without a new memory peak of 100 MB."""
    path = tmp_path / "hostile.xml"
    path.write_bytes(document.encode() if isinstance(document, str) else document)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for read in (read_xmeml, read_timeline):
        started = time.perf_counter()
        with pytest.raises(TimelineParseError, match=match) as caught:
            read(path, **kwargs)
        assert time.perf_counter() - started < 2.0
        assert SECRET not in str(caught.value) and SECRET not in repr(caught.value.__dict__)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_kib < 100 * 1024
    return caught.value


def test_external_entity_is_refused_and_its_file_never_read(tmp_path, secret_file):
    doc = (
        f'<?xml version="1.0"?><!DOCTYPE xmeml [<!ENTITY xxe SYSTEM "{secret_file.as_uri()}">]>'
        f"<xmeml>{SEQUENCE.format(name='&xxe;')}</xmeml>"
    )
    err = _refused(tmp_path, doc, "declares entities")
    assert err.line == 1


def test_external_parameter_entity_is_refused(tmp_path, secret_file):
    doc = f'<!DOCTYPE xmeml [<!ENTITY % p SYSTEM "{secret_file.as_uri()}"> %p;]><xmeml>{SEQUENCE.format(name="x")}</xmeml>'
    _refused(tmp_path, doc, "entit")


def test_billion_laughs_is_refused(tmp_path):
    levels = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    doc = f'<?xml version="1.0"?><!DOCTYPE xmeml [<!ENTITY l0 "lol">{levels}]><xmeml>{SEQUENCE.format(name="&l9;")}</xmeml>'
    _refused(tmp_path, doc, "entit")


def test_quadratic_blowup_is_refused(tmp_path):
    doc = f'<!DOCTYPE xmeml [<!ENTITY a "{"x" * 100_000}">]><xmeml>{SEQUENCE.format(name="&a;" * 20_000)}</xmeml>'
    _refused(tmp_path, doc, "entit")


@pytest.mark.parametrize("doctype", ['SYSTEM "{uri}"', 'PUBLIC "-//evil//EN" "{uri}"', 'SYSTEM "http://127.0.0.1:9/x.dtd"'])
def test_external_dtd_is_refused(tmp_path, secret_file, doctype):
    doc = f"<!DOCTYPE xmeml {doctype.format(uri=secret_file.as_uri())}><xmeml>{SEQUENCE.format(name='x')}</xmeml>"
    _refused(tmp_path, doc, "external DTD")


def test_xinclude_is_not_processed(tmp_path, secret_file):
    include = f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{secret_file.as_uri()}" parse="text"/>'
    doc = f"<xmeml>{SEQUENCE.format(name='x').replace('<name>x</name>', f'<name>{include}</name>', 1)}</xmeml>"
    tl = read_xmeml_bytes(doc.encode())
    assert SECRET not in repr(tl)


def test_a_file_over_the_size_cap_is_refused_before_reading(tmp_path):
    err = _refused(tmp_path, f"<xmeml>{SEQUENCE.format(name='x' * 2000)}</xmeml>", "larger than the 1000-byte limit", max_bytes=1000)
    assert err.line == 0
    huge = tmp_path / "sparse.xml"
    with open(huge, "wb") as fh:
        fh.truncate(4 * 1024**3)  # 4 GB of holes: only the cap's worth may be read
    started = time.perf_counter()
    with pytest.raises(TimelineParseError, match="larger than"):
        read_xmeml(huge, max_bytes=1024**2)
    assert time.perf_counter() - started < 2.0


def test_bytes_over_the_cap_are_refused():
    with pytest.raises(TimelineParseError, match="larger than the 10-byte limit"):
        read_xmeml_bytes(b"<xmeml>" + b" " * 20 + b"</xmeml>", max_bytes=10)


@pytest.mark.parametrize("depth", [300, 10_000])
def test_deep_nesting_is_refused(tmp_path, depth):
    doc = "<xmeml>" + "<bin>" * depth + "</bin>" * depth + "</xmeml>"
    _refused(tmp_path, doc, "nested deeper than 256")


def test_deeply_nested_sequences_inside_clipitems_are_refused(tmp_path):
    open_, close = "<sequence><media><video><track><clipitem>", "</clipitem></track></video></media></sequence>"
    doc = "<xmeml>" + open_ * 2000 + close * 2000 + "</xmeml>"
    _refused(tmp_path, doc, "nested deeper")


def test_unreadable_paths_are_parse_errors(tmp_path):
    with pytest.raises(TimelineParseError, match="cannot open"):
        read_xmeml(tmp_path / "missing.xml")
    with pytest.raises(TimelineParseError, match="cannot open"):
        read_xmeml(tmp_path)
