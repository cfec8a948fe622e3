"""Hardened XML: hostile documents are refused with typed errors, never expanded or fetched."""

from __future__ import annotations

import pytest

from jobwatch.ci import xmldoc
from jobwatch.errors import MalformedXMLError, PermanentError, UnsafeXMLError

XXE_FILE = b"""<?xml version="1.0"?>
<!DOCTYPE Response [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Response><RequestId>&xxe;</RequestId></Response>"""

XXE_URL = b"""<?xml version="1.0"?>
<!DOCTYPE Response [<!ENTITY xxe SYSTEM "http://127.0.0.1:1/steal">]>
<Response><RequestId>&xxe;</RequestId></Response>"""

XXE_PARAMETER = b"""<?xml version="1.0"?>
<!DOCTYPE Response [<!ENTITY % dtd SYSTEM "http://127.0.0.1:1/evil.dtd"> %dtd;]>
<Response/>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE Response SYSTEM "http://127.0.0.1:1/ci.dtd">
<Response/>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Response><RequestId>&lol9;</RequestId></Response>"""

XINCLUDE = b"""<Response xmlns:xi="http://www.w3.org/2001/XInclude">
<RequestId><xi:include href="file:///etc/passwd" parse="text"/></RequestId></Response>"""


class TestHostileXML:
    @pytest.mark.parametrize(
        "body",
        [XXE_FILE, XXE_URL, XXE_PARAMETER, EXTERNAL_DTD, BILLION_LAUGHS],
        ids=["xxe-file", "xxe-url", "xxe-parameter-entity", "external-dtd", "billion-laughs"],
    )
    def test_declarations_refused(self, body: bytes) -> None:
        """Documents with a DOCTYPE or entities raise UnsafeXMLError."""
        with pytest.raises(UnsafeXMLError):
            xmldoc.parse(body)

    def test_utf16_doctype_refused(self) -> None:
        """A DOCTYPE hidden in UTF-16 is still refused."""
        body = XXE_FILE.decode().replace('version="1.0"', 'version="1.0" encoding="UTF-16"').encode("utf-16")
        with pytest.raises(UnsafeXMLError):
            xmldoc.parse(body)

    def test_ten_megabyte_body_refused_unparsed(self) -> None:
        """A 10 MB body is over the cap and refused before parsing."""
        body = b"<Response>" + b"<JobsDetail/>" * (10 * 1024 * 1024 // 13) + b"</Response>"
        with pytest.raises(UnsafeXMLError, match="limit"):
            xmldoc.parse(body)

    @pytest.mark.parametrize(
        "body",
        [b"<Response><JobsDetail><JobId>b1</Jo", b"", b"   ", b"not xml at all", b"<a></b>", b"\x00\xff\xfe"],
        ids=["truncated", "empty", "blank", "text", "mismatched", "binary"],
    )
    def test_malformed_refused(self, body: bytes) -> None:
        """Truncated, empty or garbage bodies raise MalformedXMLError."""
        with pytest.raises(MalformedXMLError):
            xmldoc.parse(body)

    def test_xinclude_not_processed(self) -> None:
        """XInclude stays an inert element: no file is read."""
        root = xmldoc.parse(XINCLUDE)
        assert "root:" not in xmldoc.to_text(root)
        assert root.find("RequestId") is not None

    def test_errors_are_permanent(self) -> None:
        """Refused XML is a permanent error: retrying cannot help."""
        assert issubclass(UnsafeXMLError, PermanentError)
        assert issubclass(MalformedXMLError, PermanentError)


class TestConversion:
    def test_repeated_elements_become_lists(self) -> None:
        """Repeated siblings become a list; single ones stay scalar."""
        root = xmldoc.parse(b"<R><A>1</A><A>2</A><B><C>x</C></B><D/></R>")
        assert xmldoc.to_value(root) == {"A": ["1", "2"], "B": {"C": "x"}, "D": ""}

    def test_build_round_trip(self) -> None:
        """build() writes nested data, repeats lists and leaves out None."""
        body = xmldoc.build("Request", {"Name": "n", "Input": {"Prefix": "p/"}, "W": ["a", "b"], "Skip": None})
        assert body.startswith(b"<?xml")
        assert xmldoc.to_value(xmldoc.parse(body)) == {"Name": "n", "Input": {"Prefix": "p/"}, "W": ["a", "b"]}

    def test_escapes_markup_in_values(self) -> None:
        """Values with markup are escaped, not injected as elements."""
        body = xmldoc.build("Request", {"Name": "</Name><Type>Job</Type>"})
        assert xmldoc.to_value(xmldoc.parse(body)) == {"Name": "</Name><Type>Job</Type>"}
