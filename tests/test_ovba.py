"""Tests of the vbaProject.bin writer, checked with independent readers (olefile, oletools, LibreOffice)."""

from __future__ import annotations

import random
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import olefile
import pytest
import xlsxwriter
from hypothesis import example, given, settings
from hypothesis import strategies as st
from oletools.olevba import VBA_Parser, VBA_Project, decompress_stream

try:
    import thidua  # noqa: F401
except ImportError:  # package not installed: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "addin"))

from thidua.vba.cfb import write_compound_file
from thidua.vba.ovba import VbaModule, build_vba_project, compress, decompress, module_source, modules_from_dir

XLWINGS_BAS = Path(__import__("xlwings").__file__).parent / "xlwings.bas"
DOCUMENT_HEADER = [
    'Attribute VB_Base = "{base}"',
    "Attribute VB_GlobalNameSpace = False",
    "Attribute VB_Creatable = False",
    "Attribute VB_PredeclaredId = True",
    "Attribute VB_Exposed = True",
    "Attribute VB_TemplateDerived = False",
    "Attribute VB_Customizable = True",
]
CLASS_HEADER = [  # as Excel stores a class module (xlwings' Excel-saved templates)
    'Attribute VB_Base = "0{FCFB3D2A-A0FA-1068-A738-08002B3371B5}"',
    "Attribute VB_GlobalNameSpace = False",
    "Attribute VB_Creatable = False",
    "Attribute VB_PredeclaredId = False",
    "Attribute VB_Exposed = False",
    "Attribute VB_TemplateDerived = False",
    "Attribute VB_Customizable = False",
]


def expected_header(module: VbaModule) -> list[str]:
    """The Attribute lines a module stream must start with."""
    header = [f'Attribute VB_Name = "{module.name}"']
    if module.kind == "document":
        guid = "00020819" if module.name == "ThisWorkbook" else "00020820"
        header += [line.format(base=f"0{{{guid}-0000-0000-C000-000000000046}}") for line in DOCUMENT_HEADER]
    elif module.kind == "class":
        header += CLASS_HEADER
    return header


def sample_modules() -> list[VbaModule]:
    """A small standard module, xlwings.bas (~46 kB), two document modules and a class module."""
    small = "Option Explicit\n\nPublic Sub Hello(control As IRibbonControl)\n"
    small += '    MsgBox "Hello " & control.Id\nEnd Sub\n'
    small += "' padding comment line to reach about two hundred bytes of source text\n"
    xlwings_lines = XLWINGS_BAS.read_text(encoding="ascii").replace("\r\n", "\n").split("\n")
    assert xlwings_lines[0] == 'Attribute VB_Name = "xlwings"'
    return [
        VbaModule("Buttons", small, "standard"),
        VbaModule("xlwings", "\n".join(xlwings_lines[1:]), "standard"),
        VbaModule("ThisWorkbook", "Option Explicit\r\nPrivate Sub Workbook_Open()\r\nEnd Sub\r\n", "document"),
        VbaModule("Sheet1", "", "document"),
        VbaModule("Counter", "Private n As Long\nPublic Sub Increment()\n    n = n + 1\nEnd Sub", "class"),
    ]


# --- compression ---------------------------------------------------------------------------------------------


def chunks(container: bytes) -> list[tuple[bool, bytes]]:
    """Split a CompressedContainer into (compressed flag, chunk bytes with header)."""
    assert container[0] == 0x01
    result, position = [], 1
    while position < len(container):
        (header,) = struct.unpack_from("<H", container, position)
        assert (header >> 12) & 0b111 == 0b011
        size, compressed = (header & 0x0FFF) + 3, bool(header & 0x8000)
        assert compressed or size == 4098  # a raw chunk always declares 4096 data bytes
        if position + size > len(container):  # only a raw last chunk may be shorter (written unpadded)
            assert not compressed
        result.append((compressed, container[position : position + size]))
        position += size
    assert position >= len(container)
    return result


def check_round_trip(data: bytes) -> None:
    container = compress(data)
    assert decompress(container) == data
    assert bytes(decompress_stream(bytearray(container))) == data
    parts = chunks(container)
    assert len(parts) == -(-len(data) // 4096)
    for index, (_, chunk) in enumerate(parts):  # each chunk restarts the window: it decompresses on its own
        assert decompress(b"\x01" + chunk) == data[index * 4096 : (index + 1) * 4096]


def sized() -> st.SearchStrategy[bytes]:
    """Random bytes of any size up to 20 kB, half of them longer than one chunk (4096 bytes).

    Drawn as (length, seed) because Hypothesis's own buffer (8 kB) cannot hold 20 kB of drawn bytes.
    """
    lengths = st.one_of(st.integers(0, 20_000), st.integers(4097, 20_000))
    return st.one_of(
        st.binary(max_size=2_000),
        st.builds(lambda n, seed: random.Random(seed).randbytes(n), lengths, st.integers(0, 2**32)),
    )


@settings(max_examples=200, deadline=None)
@given(sized())
@example(b"")
@example(b"x" * 4096)
@example(bytes(range(256)) * 16 + b"!")  # 4097 bytes
@example(b"abc" * 5000)
@example(b"\x07" * 10_000)
def test_round_trip_binary(data: bytes) -> None:
    check_round_trip(data)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12), min_size=1, max_size=60),
    st.integers(0, 20_000),
    st.integers(0, 2**32),
)
def test_round_trip_text(vocabulary: list[str], length: int, seed: int) -> None:
    rng, pieces, size = random.Random(seed), [], 0
    while size < length:  # source-like text: drawn words separated by spaces, punctuation and line breaks
        pieces.append(rng.choice(vocabulary) + rng.choice([" ", " ", "\r\n", "(", ", ", "."]))
        size += len(pieces[-1])
    text = "".join(pieces)[:length]
    check_round_trip(text.encode("ascii"))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.binary(min_size=1, max_size=40), st.integers(1, 600)), min_size=1, max_size=8))
def test_round_trip_long_repeats(pieces: list[tuple[bytes, int]]) -> None:
    check_round_trip(b"".join(piece * count for piece, count in pieces)[:20_000])


@pytest.mark.parametrize("size", [1, 2, 3, 4095, 4096, 4097, 8192, 8193, 3 * 4096 + 3700])
def test_round_trip_chunk_boundaries(size: int) -> None:
    text = (b"Public Sub Main()\r\n    Debug.Print 42\r\nEnd Sub\r\n" * (size // 40 + 1))[:size]
    check_round_trip(text)
    check_round_trip(without_repeated_triples(size))


def test_text_never_needs_raw_chunks() -> None:
    data = XLWINGS_BAS.read_bytes()
    assert all(compressed for compressed, _ in chunks(compress(data)))
    assert len(compress(data)) < len(data) // 2


def without_repeated_triples(size: int) -> bytes:
    """Pseudo-random bytes in which no 3-byte sequence occurs twice: nothing for a copy token to reuse."""
    out, seen, state = bytearray(b"\x00\x01"), set(), 12345
    while len(out) < size:
        state = (state * 1103515245 + 12345) % 2**31
        candidate = out[-2:] + bytes([state >> 16 & 0xFF])
        if bytes(candidate) not in seen:
            seen.add(bytes(candidate))
            out.append(candidate[-1])
    return bytes(out)


def test_incompressible_full_chunk_is_stored_raw() -> None:
    data = without_repeated_triples(4096)  # 4096 literals need 4608 bytes of tokens: more than a chunk holds
    parts = chunks(compress(data))
    assert parts == [(False, struct.pack("<H", 0x3FFF) + data)]


# [MS-OVBA] 3.2.1, 3.2.2 and 3.2.3: the spec's examples, compared byte for byte.
SPEC_EXAMPLES = [
    (
        b"abcdefghijklmnopqrstuv.",
        "01 19 B0 00 61 62 63 64 65 66 67 68 00 69 6A 6B 6C 6D 6E 6F 70 00 71 72 73 74 75 76 2E",
    ),
    (
        b"#aaabcdefaaaaghijaaaaaklaaamnopqaaaaaaaaaaaarstuvwxyzaaa",
        "01 2F B0 00 23 61 61 61 62 63 64 65 82 66 00 70 61 67 68 69 6A 01 38 08 61 6B 6C 00 20 6D 6E 6F"
        " 70 06 71 02 70 04 00 72 73 74 75 76 10 77 78 79 7A 00 2C",
    ),
    (b"a" * 73, "01 03 B0 02 61 45 00"),
]


@pytest.mark.parametrize(("plain", "packed"), SPEC_EXAMPLES)
def test_spec_examples(plain: bytes, packed: str) -> None:
    assert compress(plain) == bytes.fromhex(packed)
    assert decompress(bytes.fromhex(packed)) == plain


def test_compression_is_fast() -> None:
    import time

    data = XLWINGS_BAS.read_bytes() * 2 + b"abc" * 3000  # ~100 kB
    start = time.perf_counter()
    compress(data)
    assert time.perf_counter() - start < 1.0


def test_decompress_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        decompress(b"\x02\x00")
    with pytest.raises(ValueError):
        decompress(b"\x01\x00\x00")  # chunk signature is not 0b011
    with pytest.raises(ValueError):
        decompress(b"\x01\x01\xb0\x01\x00\x00")  # copy token pointing before the chunk start


# --- compound file -------------------------------------------------------------------------------------------


def cfb_key(name: str) -> tuple[int, str]:
    return len(name), name.upper()


def check_red_black_tree(ole: olefile.OleFileIO, sid: int) -> list[str]:
    """Walk a sibling tree checking the [MS-CFB] 2.6.4 ordering and red-black rules; return names in order."""

    def walk(node: int) -> tuple[list[str], int]:
        if node == olefile.NOSTREAM:
            return [], 1
        entry = ole.direntries[node]
        left, left_black = walk(entry.sid_left)
        right, right_black = walk(entry.sid_right)
        assert left_black == right_black, "unequal black heights"
        if entry.color == 0:  # red: children must be black
            for child in (entry.sid_left, entry.sid_right):
                assert child == olefile.NOSTREAM or ole.direntries[child].color == 1
        return [*left, entry.name, *right], left_black + entry.color

    names, _ = walk(sid)
    assert ole.direntries[sid].color == 1, "the root of a sibling tree must be black"
    assert names == sorted(names, key=cfb_key)
    return names


def test_compound_file_sizes_and_nesting() -> None:
    streams = {f"S{i:03d}": bytes([i % 251]) * size for i, size in enumerate([0, 1, 63, 64, 65, 4095, 4096, 4097])}
    streams |= {"A/B/deep": b"deep" * 3000, "A/x": b"x", "zz": b"z" * 70_000}
    streams |= {f"VBA/Module{i}": bytes([i]) * (i * 97) for i in range(1, 40)}
    data = write_compound_file(streams)
    ole = olefile.OleFileIO(data, raise_defects=olefile.DEFECT_INCORRECT)
    assert sorted("/".join(p) for p in ole.listdir()) == sorted(streams)
    for path, content in streams.items():
        assert ole.openstream(path).read() == content
    for entry in ole.direntries:
        if entry is not None and entry.sid_child != olefile.NOSTREAM:
            check_red_black_tree(ole, entry.sid_child)
    assert data == write_compound_file(dict(reversed(streams.items())))  # independent of the dict order


@pytest.mark.parametrize("streams", [{"VBA/abc": b"1", "VBA/ABC": b"2"}, {"A": b"1", "A/B": b"2"}])
def test_compound_file_rejects_conflicting_paths(streams: dict[str, bytes]) -> None:
    with pytest.raises(ValueError):
        write_compound_file(streams)


def test_compound_file_too_large_fails_loudly() -> None:
    with pytest.raises(ValueError, match="FAT sectors"):
        write_compound_file({"big": bytes(110 * 128 * 512)})


@pytest.mark.parametrize("name", ["a" * 32, "x:y", "bang!", ""])
def test_compound_file_rejects_bad_names(name: str) -> None:
    with pytest.raises(ValueError):
        write_compound_file({f"VBA/{name}": b"1"})


# --- VBA project ---------------------------------------------------------------------------------------------


def dir_records(data: bytes) -> list[tuple[int, bytes]]:
    """Walk the decompressed dir stream: (record id, payload)."""
    records, position = [], 0
    while position < len(data):
        record_id, size = struct.unpack_from("<HI", data, position)
        size = 6 if record_id == 0x0009 else size  # PROJECTVERSION: Reserved 4, then 6 bytes
        records.append((record_id, data[position + 6 : position + 6 + size]))
        position += 6 + size
    assert position == len(data)
    return records


def decrypt(text: str) -> tuple[int, bytes]:
    """[MS-OVBA] 2.4.3.3 Data Decryption: return (ProjKey, Data); checks Version and the length."""
    raw = bytes.fromhex(text)
    seed, version_enc, key_enc = raw[:3]
    assert seed ^ version_enc == 2
    unencrypted, encrypted1, encrypted2 = seed ^ key_enc, key_enc, version_enc
    plain = bytearray()
    for byte_enc in raw[3:]:
        plain.append(byte_enc ^ ((encrypted2 + unencrypted) & 0xFF))
        encrypted2, encrypted1, unencrypted = encrypted1, byte_enc, plain[-1]
    plain = plain[(seed & 6) // 2 :]
    assert int.from_bytes(plain[:4], "little") == len(plain) - 4
    return seed ^ key_enc, bytes(plain[4:])


def test_decrypt_helper_on_a_published_triple() -> None:
    # CMG/DPB/GC of an unprotected project seen in public material: same key, Version 2, expected payloads.
    assert decrypt("DBD966ECE4F0E4F0E4F0E4F0") == (0xBD, bytes(4))
    assert decrypt("5557E86E18E919E919E9") == (0xBD, b"\x00")
    assert decrypt("CFCD72F0961011111111EE") == (0xBD, b"\xff")


@pytest.fixture(scope="module")
def project() -> bytes:
    return build_vba_project(sample_modules())


def check_macros(parser: VBA_Parser, modules: list[VbaModule]) -> None:
    """Every module comes back from olevba with exactly the expected Attribute header and code."""
    found = {}
    for _, stream_path, vba_filename, vba_code in parser.extract_all_macros():
        found[vba_filename] = (stream_path, vba_code)
    expected_names = {f"{m.name}.{'bas' if m.kind == 'standard' else 'cls'}" for m in modules}
    assert set(found) == expected_names
    for module in modules:
        stream_path, code = found[f"{module.name}.{'bas' if module.kind == 'standard' else 'cls'}"]
        assert stream_path.endswith(f"VBA/{module.name}")
        header = expected_header(module)
        lines = code.split("\r\n")
        assert "\n" not in code.replace("\r\n", "")  # stored with CRLF line ends only
        assert lines[: len(header)] == header
        assert "\n".join(lines[len(header) :]) == module.code.replace("\r\n", "\n")


def test_project_opens_strictly_and_lists_streams(project: bytes) -> None:
    ole = olefile.OleFileIO(project, raise_defects=olefile.DEFECT_INCORRECT)
    names = sorted("/".join(path) for path in ole.listdir())
    modules = [f"VBA/{m.name}" for m in sample_modules()]
    assert names == sorted(["PROJECT", "PROJECTwm", "VBA/_VBA_PROJECT", "VBA/dir", *modules])
    assert ole.openstream("VBA/_VBA_PROJECT").read() == bytes.fromhex("CC61FFFF000100")
    for entry in ole.direntries:
        if entry is not None:
            assert (entry.clsid, entry.createTime, entry.modifyTime) == ("", 0, 0)  # olefile shows a null CLSID as ""
            if entry.sid_child != olefile.NOSTREAM:
                check_red_black_tree(ole, entry.sid_child)


def test_project_modules_through_olevba(project: bytes) -> None:
    check_macros(VBA_Parser("vbaProject.bin", data=project), sample_modules())


def test_dir_stream_parsed_strictly_by_olevba(project: bytes) -> None:
    ole = olefile.OleFileIO(project, raise_defects=olefile.DEFECT_INCORRECT)
    parsed = VBA_Project(ole, "", "PROJECT", "VBA/dir", relaxed=False)
    parsed.parse_project_stream()
    assert (parsed.projectname, parsed.codepage, parsed.syskind, parsed.lcid) == ("VBAProject", 1252, 1, 0x409)
    modules = {m.name: m for m in sample_modules()}
    assert [path for path, _, _ in parsed.parse_modules()] == [f"VBA/{name}" for name in modules]
    for module in parsed.modules:
        assert module.name == module.streamname and module.name in modules
        assert module.textoffset == 0
        assert module.type == (0x0021 if modules[module.name].kind == "standard" else 0x0022)
    assert [m.name for m in parsed.modules] == list(modules)


def test_dir_stream_records(project: bytes) -> None:
    ole = olefile.OleFileIO(project)
    records = dir_records(decompress(ole.openstream("VBA/dir").read()))
    ids = [record_id for record_id, _ in records]
    information = [0x01, 0x02, 0x14, 0x03, 0x04, 0x05, 0x40, 0x06, 0x3D, 0x07, 0x08, 0x09, 0x0C, 0x3C]
    reference = [0x16, 0x3E, 0x0D]
    module = [0x19, 0x47, 0x1A, 0x32, 0x1C, 0x48, 0x31, 0x1E, 0x2C, None, 0x2B]
    count = len(sample_modules())
    assert ids[: len(information)] == information
    assert ids[len(information) : len(information) + 6] == reference * 2
    rest = ids[len(information) + 6 :]
    assert rest[:2] == [0x0F, 0x13] and rest[-1] == 0x10 and len(rest) == 3 + count * len(module)
    for index in range(count):
        got = rest[2 + index * len(module) : 2 + (index + 1) * len(module)]
        assert [None if i in (0x21, 0x22) else i for i in got] == module
    libids = [payload[4 : 4 + struct.unpack_from("<I", payload)[0]].decode() for i, payload in records if i == 0x0D]
    assert libids == [
        r"*\G{00020430-0000-0000-C000-000000000046}#2.0#0#C:\Windows\System32\stdole2.tlb#OLE Automation",
        r"*\G{2DF8D04C-5BFA-101B-BDE5-00AA0044DE52}#2.0#0#C:\Program Files\Common Files\Microsoft Shared"
        r"\OFFICE16\MSO.DLL#Microsoft Office 16.0 Object Library",
    ]


def test_project_and_projectwm_streams(project: bytes) -> None:
    ole = olefile.OleFileIO(project)
    text = ole.openstream("PROJECT").read().decode("cp1252")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    lines = text.split("\r\n")
    project_id = lines[0].removeprefix('ID="').removesuffix('"')
    assert len(project_id) == 38 and project_id.startswith("{") and project_id.endswith("}")
    assert lines[1:6] == ["Module=Buttons", "Module=xlwings", "Document=ThisWorkbook/&H00000000",
                          "Document=Sheet1/&H00000000", "Class=Counter"]
    assert lines[6:9] == ['Name="VBAProject"', 'HelpContextID="0"', 'VersionCompatible32="393222000"']
    key = sum(project_id.encode()) & 0xFF
    payloads = {"CMG": bytes(4), "DPB": b"\x00", "GC": b"\xff"}
    for line, name in zip(lines[9:12], payloads, strict=True):
        assert line.startswith(f'{name}="')
        assert decrypt(line.split('"')[1]) == (key, payloads[name])
    host = "&H00000001={3832D640-CF90-11CF-8E43-00A0C911005A};VBE;&H00000000"
    workspace = [f"{m.name}=0, 0, 0, 0, C" for m in sample_modules()]
    assert lines[12:] == ["", "[Host Extender Info]", host, "", "[Workspace]", *workspace, ""]
    expected_wm = b"".join(m.name.encode() + b"\0" + m.name.encode("utf-16-le") + b"\0\0" for m in sample_modules())
    assert ole.openstream("PROJECTwm").read() == expected_wm + b"\0\0"


def test_build_is_deterministic(project: bytes) -> None:
    assert build_vba_project(sample_modules()) == project
    assert build_vba_project(sample_modules(), project_name="Other") != project


@pytest.mark.parametrize(
    "modules",
    [
        [VbaModule("1abc", "", "standard")],
        [VbaModule("Mô", "", "standard")],
        [VbaModule("A", "", "form")],
        [VbaModule("Same", "", "standard"), VbaModule("SAME", "", "class")],
        [VbaModule("Dup", 'Attribute VB_Name = "Dup"\nSub A()\nEnd Sub\n', "standard")],
    ],
)
def test_build_rejects_bad_modules(modules: list[VbaModule]) -> None:
    with pytest.raises(ValueError):
        build_vba_project(modules)


def test_xlsm_through_xlsxwriter_and_olevba(project: bytes, tmp_path: Path) -> None:
    bin_path, xlsm = tmp_path / "vbaProject.bin", tmp_path / "book.xlsm"
    bin_path.write_bytes(project)
    workbook = xlsxwriter.Workbook(xlsm)
    worksheet = workbook.add_worksheet()
    workbook.set_vba_name("ThisWorkbook")
    worksheet.set_vba_name("Sheet1")
    workbook.add_vba_project(str(bin_path))
    workbook.close()
    with zipfile.ZipFile(xlsm) as archive:
        assert archive.read("xl/vbaProject.bin") == project
    parser = VBA_Parser(str(xlsm))
    assert parser.detect_vba_macros()
    check_macros(parser, sample_modules())
    parser.close()


# --- modules_from_dir ----------------------------------------------------------------------------------------

CLASS_FILE = """VERSION 1.0 CLASS\r
BEGIN\r
  MultiUse = -1  'True\r
END\r
Attribute VB_Name = "{name}"\r
{attributes}Option Explicit\r
"""


def test_modules_from_dir(tmp_path: Path) -> None:
    (tmp_path / "Buttons.bas").write_bytes(b'Attribute VB_Name = "Ribbon"\r\nSub A()\r\nEnd Sub\r\n')
    (tmp_path / "NoHeader.bas").write_bytes(b"Sub B()\nEnd Sub")
    workbook_attributes = 'Attribute VB_Base = "0{00020819-0000-0000-C000-000000000046}"\r\n'
    (tmp_path / "ThisWorkbook.cls").write_text(CLASS_FILE.format(name="ThisWorkbook", attributes=workbook_attributes))
    (tmp_path / "Sheet3.cls").write_text(CLASS_FILE.format(name="Sheet3", attributes=""))
    plain_attributes = "Attribute VB_PredeclaredId = True\r\nAttribute VB_Exposed = False\r\n"
    (tmp_path / "Counter.cls").write_text(CLASS_FILE.format(name="Counter", attributes=plain_attributes))
    (tmp_path / "notes.txt").write_text("ignored")
    assert modules_from_dir(tmp_path) == [
        VbaModule("Ribbon", "Sub A()\nEnd Sub\n", "standard"),
        VbaModule("Counter", "Option Explicit\n", "class", (("VB_PredeclaredId", "True"), ("VB_Exposed", "False"))),
        VbaModule("NoHeader", "Sub B()\nEnd Sub", "standard"),
        VbaModule("Sheet3", "Option Explicit\n", "document"),
        VbaModule("ThisWorkbook", "Option Explicit\n", "document"),
    ]


def test_modules_from_dir_reads_xlwings(tmp_path: Path) -> None:
    shutil.copy(XLWINGS_BAS, tmp_path)
    (module,) = modules_from_dir(tmp_path)
    assert module == sample_modules()[1]


def test_class_module_keeps_its_exported_attributes_in_excels_order(tmp_path: Path) -> None:
    """xlwings' Dictionary.cls: its own VB_Exposed = True and VB_Description are kept, VB_Base and the fixed header
    added, in the order Excel stores a class module."""
    shutil.copy(XLWINGS_BAS.parent / "addin" / "Dictionary.cls", tmp_path)
    (module,) = modules_from_dir(tmp_path)
    assert module.kind == "class" and dict(module.attributes)["VB_Exposed"] == "True"
    header = module_source(module).split("\r\n")[:10]
    assert [line.split(" = ")[0] for line in header[:9]] == [
        "Attribute VB_Name", "Attribute VB_Base", "Attribute VB_GlobalNameSpace", "Attribute VB_Creatable",
        "Attribute VB_PredeclaredId", "Attribute VB_Exposed", "Attribute VB_TemplateDerived",
        "Attribute VB_Customizable", "Attribute VB_Description"]
    assert header[1] == 'Attribute VB_Base = "0{FCFB3D2A-A0FA-1068-A738-08002B3371B5}"'
    assert header[5] == "Attribute VB_Exposed = True" and not header[9].startswith("Attribute VB_")


def test_modules_from_dir_rejects_non_ascii_source(tmp_path: Path) -> None:
    (tmp_path / "Vietnamese.bas").write_bytes('Sub A()\r\n    MsgBox "Thi đua"\r\nEnd Sub\r\n'.encode())
    with pytest.raises(ValueError, match=r"Vietnamese\.bas.*ASCII"):
        modules_from_dir(tmp_path)


@pytest.mark.parametrize(("file_name", "header"), [("Thiđua.bas", ""), ("Ok.bas", 'Attribute VB_Name = "Thi_đua"\n')])
def test_modules_from_dir_rejects_non_ascii_names(tmp_path: Path, file_name: str, header: str) -> None:
    (tmp_path / file_name).write_bytes(header.encode() + b"Sub A()\nEnd Sub\n")
    with pytest.raises(ValueError, match=file_name.replace(".", r"\.")):
        modules_from_dir(tmp_path)


# --- LibreOffice (optional): load the workbook and run a macro of our project ----------------------------------

RUNNER = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE script:module PUBLIC "-//OpenOffice.org//DTD OfficeDocument 1.0//EN" "module.dtd">
<script:module xmlns:script="http://openoffice.org/2000/script" script:name="Runner" script:language="StarBasic">
Sub Run
  Dim args(0) As New com.sun.star.beans.PropertyValue
  args(0).Name = &quot;MacroExecutionMode&quot;
  args(0).Value = 4
  doc = StarDesktop.loadComponentFromURL(ConvertToURL(&quot;{book}&quot;), &quot;_blank&quot;, 0, args())
  script = doc.getScriptProvider().getScript(&quot;{uri}&quot;)
  script.invoke(Array(), Array(), Array())
  n = FreeFile
  Open &quot;{result}&quot; For Output As #n
  Print #n, doc.Sheets.getByIndex(0).getCellRangeByName(&quot;A1&quot;).getString()
  Close #n
  doc.close(True)
End Sub
</script:module>
"""


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_libreoffice_runs_a_macro(tmp_path: Path) -> None:
    code = 'Sub Hello()\n    ThisWorkbook.Sheets(1).Range("A1").Value = "ok"\nEnd Sub\n'
    modules = [VbaModule("ThisWorkbook", "", "document"), VbaModule("Sheet1", "", "document"),
               VbaModule("Buttons", code, "standard")]
    (tmp_path / "vbaProject.bin").write_bytes(build_vba_project(modules))
    book, result = tmp_path / "book.xlsm", tmp_path / "result.txt"
    workbook = xlsxwriter.Workbook(book)
    worksheet = workbook.add_worksheet()
    workbook.set_vba_name("ThisWorkbook")
    worksheet.set_vba_name("Sheet1")
    workbook.add_vba_project(str(tmp_path / "vbaProject.bin"))
    worksheet.write("B1", "untouched")
    workbook.close()

    profile = tmp_path / "profile"
    soffice = [shutil.which("soffice"), "--headless", "--invisible", f"-env:UserInstallation={profile.as_uri()}"]
    subprocess.run([*soffice, "--terminate_after_init"], check=True, timeout=300, capture_output=True)
    library = profile / "user" / "basic" / "Standard"  # the first start created the user's Standard library
    uri = "vnd.sun.star.script:VBAProject.Buttons.Hello?language=Basic&amp;location=document"
    (library / "Runner.xba").write_text(RUNNER.format(book=book, result=result, uri=uri), encoding="utf-8")
    index = (library / "script.xlb").read_text(encoding="utf-8")
    runner_element = '"Module1"/><library:element library:name="Runner"/>'
    (library / "script.xlb").write_text(index.replace('"Module1"/>', runner_element), encoding="utf-8")
    subprocess.run([*soffice, "macro:///Standard.Runner.Run"], check=True, timeout=300, capture_output=True)
    assert result.read_text().strip() == "ok"
