"""The export readers' bounds: linear DN parsing, limits on every size for every encoding, NUL and
odd hex refused with the reader's own error, and fuzzed input that never raises anything else."""

import base64
import io
import os
import time
import tracemalloc
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from identityhub.lib.ldif import DEFAULT_LIMITS, ExportFormatError, Limits, parse_dn, read_csv, read_export, read_ldif

from .test_ldif import CSVDE, LDIFDE

SMALL = Limits(line=200, value=100, dn=60, record=400, record_values=8, file=2_000)


def error_of(reader, data: bytes, **kwargs) -> ExportFormatError:
    with pytest.raises(ExportFormatError) as caught:
        list(reader(io.BytesIO(data), "corp", **kwargs))
    return caught.value


def cpu_seconds(call) -> float:
    started = time.process_time()
    call()
    return time.process_time() - started


# --------------------------------------------------------------------------- DNs in one pass


def test_the_quadratic_dn_of_the_issue_is_refused_at_once():
    hostile = b"dn: CN=a" + b" " * 64_000 + b'"x,DC=bad,DC=local\n'
    error = error_of(read_ldif, hostile)
    assert error.line == 1 and "DN is not valid: unexpected '\"' at position 64005" in error.message
    assert len(str(error)) < 300  # a short excerpt, never the whole DN


@pytest.mark.parametrize(
    "dn",
    [
        "CN=a" + " " * 1_000_000 + '"x,DC=bad,DC=local',  # backtracking over the spaces
        "CN=" + "a" * 1_000_000 + ' "',
        'CN="' + "\\a" * 500_000,  # an unclosed quoted value
        "CN=#" + "41" * 500_000 + "x",  # a BER value that is not one
        "1." + "2." * 500_000 + "x=y",  # an OID type that never ends
        "CN=x" + "\\ " * 500_000 + " " * 500_000,  # escaped and plain trailing spaces
    ],
)
def test_parse_dn_is_linear_on_hostile_input(dn):
    # A million characters: a quadratic parser takes hours, a linear one milliseconds.
    def parse():
        try:
            parse_dn(dn)
        except ValueError as exc:
            assert len(str(exc)) < 300

    assert cpu_seconds(parse) < 5


def test_a_long_valid_dn_parses_with_its_escapes():
    dn = ",".join(f"OU=Dept\\, {n}" for n in range(20_000)) + ",DC=x "
    rdns = parse_dn(dn)
    assert len(rdns) == 20_001 and rdns[0] == [("OU", "Dept, 0")] and rdns[-1] == [("DC", "x")]
    assert parse_dn("CN=x\\ ,DC=y") == [[("CN", "x ")], [("DC", "y")]]  # an escaped trailing space stays


# --------------------------------------------------------------------------- every limit, every encoding


def record(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("dn: CN=a,DC=x\ncn: " + "a" * 300 + "\n", 2, "line is longer than 200"),
        ("dn: CN=a,DC=x\ncn: " + "a" * 150 + "\n", 2, "value is longer than 100"),
        ("dn: CN=a,DC=x\ncn: a\n" + " " + "b" * 60 + "\n " + "c" * 60 + "\n", 2, "with its folded lines"),
        ("dn: CN=" + "a" * 70 + ",DC=x\n", 1, "DN is longer than 60 characters"),
        ("dn: CN=a,DC=x\n" + "cn: a\n" * 9, 1, "record has more than 8 lines"),
        ("dn: CN=a,DC=x\n" + ("cn: " + "a" * 90 + "\n") * 5, 1, "record is longer than 400"),
        (("dn: CN=a,DC=x\ncn: a\n\n") * 200, 286, "file is larger than 2000"),  # 21 bytes a record
    ],
)
def test_every_ldif_bound_holds_in_every_encoding(encoding, text, line, message):
    data = text.encode(encoding)  # "utf-16" writes the BOM ldifde -u writes
    error = error_of(read_ldif, data, limits=SMALL)
    assert message in error.message and error.line == line, str(error)


def test_a_folded_value_is_bounded_while_it_is_read():
    # A value folded over a million lines of 10 characters: refused at the bound, memory flat.
    class Folds(io.RawIOBase):
        def __init__(self):
            self.sent = False

        def readable(self):
            return True

        def readinto(self, buffer):
            chunk = (b"dn: CN=a,DC=x\ncn: a\n" if not self.sent else b"") + b" 123456789\n" * (len(buffer) // 11 - 2)
            self.sent = True
            buffer[: len(chunk)] = chunk
            return len(chunk)

    tracemalloc.start()
    with pytest.raises(ExportFormatError, match="line 2: value .* folded lines"):
        list(read_ldif(io.BufferedReader(Folds()), "corp"))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20 * DEFAULT_LIMITS.value  # the parts of one value, not of the whole stream


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('DN,cn\n"CN=a,DC=x","' + "a\n" * 250 + '"\n', 2, "row is longer than 400"),
        ('DN,cn\n"CN=a,DC=x",' + "a" * 150 + "\n", 2, "value of cn is longer than 100"),
        ('DN,proxyAddresses\n"CN=a,DC=x",' + ";".join(["smtp:a@x"] * 9) + "\n", 2, "more than 8 values"),
        ('DN,cn\n"CN=' + "a" * 70 + ',DC=x",a\n', 2, "DN is longer than 60"),
        ("DN,cn\n" + '"CN=a,DC=x",a\n' * 200, 144, "file is larger than 2000"),
    ],
)
def test_every_csv_bound_holds(text, line, message):
    error = error_of(read_csv, text.encode(), limits=SMALL)
    assert message in error.message and error.line == line, str(error)


def test_a_utf16_line_is_held_to_the_line_bound():
    # Before: UTF-16 files were split by the codec with no limit at all.
    data = ("dn: CN=a,DC=x\ncn: " + "a" * 5_000 + "\n").encode("utf-16")
    assert "line is longer than 200 characters" in error_of(read_export, data, limits=SMALL).message


def test_the_default_bounds_fit_real_exports():
    assert [e.dn for e in read_ldif(io.BytesIO(LDIFDE.encode()), "corp")][0].startswith("CN=Smith")
    members = "\n".join(f"member: CN=User {n},OU=Staff,DC=corp,DC=contoso,DC=com" for n in range(250_001))
    [group] = read_ldif(io.BytesIO(f"dn: CN=All,DC=corp\nobjectClass: group\n{members}\n".encode()), "corp")
    assert len(group.values("member")) == 250_001  # over Microsoft's limit: the rules can report it


# --------------------------------------------------------------------------- NUL and odd hex


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"dn: CN=a,DC=x\ncn: a\x00b\n", 2),
        (b"dn: CN=a\x00,DC=x\n", 1),
        (b'DN,cn\n"CN=a,DC=x",a\x00\n', 2),
        ("dn: CN=a,DC=x\ncn: a\x00\n".encode("utf-16"), 2),
    ],
)
def test_a_nul_is_a_reader_error_with_its_line(data, line):
    error = error_of(read_export, data)
    assert error.line == line and "NUL character" in error.message


def test_a_base64_value_holding_a_nul_is_not_text():
    value = base64.b64encode(b"a\x00b").decode()
    [entry] = read_ldif(io.BytesIO(f"dn: CN=a,DC=x\ndisplayName:: {value}\n".encode()), "corp")
    assert entry.first("displayName") == b"a\x00b"
    dn = base64.b64encode(b"CN=a\x00,DC=x").decode()
    assert "NUL" in error_of(read_ldif, f"dn:: {dn}\n".encode()).message


@pytest.mark.parametrize("column", ["objectGUID", "userCertificate", "cn"])
def test_odd_length_csvde_hex_is_a_reader_error(column):
    error = error_of(read_csv, f"DN,{column}\n\"CN=a,DC=x\",X'abc'\n".encode())
    assert error.line == 2 and "odd number of hex digits" in error.message


def test_odd_length_hex_on_the_command_line_names_the_file_and_line(tmp_path):
    from io import StringIO

    from django.core.management import call_command

    bad = tmp_path / "odd.csv"
    bad.write_text("DN,objectGUID\n\"CN=a,DC=x\",X'abc'\n")
    err = StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("check_export", str(bad), stdout=StringIO(), stderr=err)
    assert exit_info.value.code == 2  # unreadable input
    assert "odd.csv: line 2:" in err.getvalue() and "odd number of hex digits" in err.getvalue()


# --------------------------------------------------------------------------- fuzzing

# Random and mutated exports: the reader raises ExportFormatError or nothing, and its time and
# memory stay within a generous bound of the input's size. In CI the examples are derandomized.
FUZZ = settings(
    max_examples=150,
    deadline=timedelta(seconds=2),  # inputs are at most ~40 KB: linear reading takes milliseconds
    derandomize=bool(os.environ.get("CI")),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TOKENS = [
    "dn:", "dn::", "cn:", "cn::", "mail:<", "objectGUID::", "changetype: add", "version: 1", "#", " ", "\n",
    "\r\n", ":", "::", "=", ",", "+", ";", '"', "\\", "\\2C", "#41", "CN=", "OU=", "DC=", "X'", "'", "0a",
    "\x00", "\ufeff", "ü", "\ud7ff", "A" * 40, " " * 40, "QUJD", "!!", "DN,cn,objectGUID", "1.2.3=",
]  # fmt: skip


def read_bounded(data: bytes, reader=read_export) -> None:
    tracemalloc.start()
    try:
        list(reader(io.BytesIO(data), "fuzz", limits=Limits(dn=4_000, value=8_000, record=20_000)))
    except ExportFormatError as exc:
        assert exc.line >= 1 and len(str(exc)) < 400
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    # Python objects per line and value cost a few hundred bytes: bounded by the input, not its square.
    assert peak < 300 * len(data) + 1_000_000, (len(data), peak)


def mutate(sample: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    data = bytearray(sample)
    for position, cut, insert in edits:
        at = position % (len(data) + 1)
        data[at : at + cut] = insert
    return bytes(data)


EDITS = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 8), st.binary(max_size=12)), max_size=12)


@FUZZ
@given(st.binary(max_size=4_000))
def test_random_bytes_raise_only_the_readers_error(data):
    read_bounded(data)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=400), st.sampled_from(["utf-8", "utf-16", "latin-1"]))
def test_export_shaped_text_raises_only_the_readers_error(tokens, encoding):
    read_bounded("".join(tokens).encode(encoding, "surrogatepass" if encoding != "latin-1" else "replace"))


@FUZZ
@given(st.sampled_from([LDIFDE, CSVDE]), EDITS, st.sampled_from(["utf-8", "utf-16"]))
def test_mutated_exports_raise_only_the_readers_error(sample, edits, encoding):
    data = mutate(sample.encode(encoding), edits)
    read_bounded(data)
    read_bounded(data, read_csv if sample is CSVDE else read_ldif)
