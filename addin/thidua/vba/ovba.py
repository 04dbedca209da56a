"""Writer of a source-only VBA project (``vbaProject.bin``) following [MS-OVBA], standard library only.

The project carries no compiled code (no performance cache in ``_VBA_PROJECT``, [MS-OVBA] 2.3.4.1), so Office
compiles the modules from their source text when it opens the workbook.
"""

from __future__ import annotations

import re
import struct
import uuid
from dataclasses import dataclass
from pathlib import Path

from .cfb import write_compound_file

CHUNK_SIZE = 4096  # decompressed bytes per chunk, [MS-OVBA] 2.4.1.1.3
MAX_CANDIDATES = 256  # match candidates examined per position (bounds the time on pathological input)
KINDS = ("standard", "document", "class")
Heads = dict[bytes, list[int]]  # 3-byte prefix -> its positions in the current chunk, oldest first
WORKBOOK_BASE = "0{00020819-0000-0000-C000-000000000046}"  # VB_Base of ThisWorkbook
WORKSHEET_BASE = "0{00020820-0000-0000-C000-000000000046}"  # VB_Base of a worksheet module
CLASS_BASE = "0{FCFB3D2A-A0FA-1068-A738-08002B3371B5}"  # VB_Base Excel writes for every class module
#: The class module header in the order Excel stores it (xlwings' own Excel-saved templates, e.g.
#: quickstart_standalone.xlsm): name -> default value when the exported .cls file does not give one.
CLASS_HEADER = (("VB_GlobalNameSpace", "False"), ("VB_Creatable", "False"), ("VB_PredeclaredId", "False"),
                ("VB_Exposed", "False"), ("VB_TemplateDerived", "False"), ("VB_Customizable", "False"))
#: [MS-OVBA] 2.3.4.1 _VBA_PROJECT without a performance cache: Reserved1 0x61CC, Version 0xFFFF, Reserved2 0x00, and
#: Reserved3 (to be ignored by readers) as Excel writes it: 0x0001, the bytes of every xlwings template saved by Excel.
VBA_PROJECT_STREAM = bytes.fromhex("CC61FFFF000100")
IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,30}\Z")
REFERENCES = (  # (name, LibidRegistered), [MS-OVBA] 2.1.1.8 and 2.3.4.2.2.5
    ("stdole", r"*\G{00020430-0000-0000-C000-000000000046}#2.0#0#C:\Windows\System32\stdole2.tlb#OLE Automation"),
    ("Office", r"*\G{2DF8D04C-5BFA-101B-BDE5-00AA0044DE52}#2.0#0#C:\Program Files\Common Files\Microsoft Shared"
     r"\OFFICE16\MSO.DLL#Microsoft Office 16.0 Object Library"),  # IRibbonControl for the ribbon callbacks
)


@dataclass(frozen=True)
class VbaModule:
    """One VBA module: its name, its source text (without Attribute header lines) and its kind; for a class module
    also the header attributes its exported file sets (name, value as written, e.g. ``("VB_Exposed", "True")``)."""

    name: str
    code: str
    kind: str  # "standard" (.bas), "document" (ThisWorkbook / sheet modules) or "class" (.cls)
    attributes: tuple[tuple[str, str], ...] = ()


# --- [MS-OVBA] 2.4.1 compression -------------------------------------------------------------------------


def _copy_token_help(difference: int) -> tuple[int, int]:
    """[MS-OVBA] 2.4.1.3.19.1: (offset bit count, maximum length) `difference` bytes into a decompressed chunk."""
    bit_count = max((difference - 1).bit_length(), 4)  # ceil(log2(difference)), at least 4
    return bit_count, (0xFFFF >> bit_count) + 3


def _match_length(data: bytes, candidate: int, position: int, limit: int) -> int:
    """Number of equal bytes (at most `limit`) at `candidate` and `position`; the ranges may overlap."""
    length = 0
    while length + 64 <= limit and data[candidate + length : candidate + length + 64] == data[
        position + length : position + length + 64
    ]:
        length += 64
    while length < limit and data[candidate + length] == data[position + length]:
        length += 1
    return length


def _find_match(data: bytes, chunk_start: int, position: int, end: int, heads: Heads) -> tuple[int, int]:
    """[MS-OVBA] 2.4.1.3.19.4 Matching: (offset, length) of the longest earlier match, nearest first on ties.

    `heads` maps each 3-byte prefix to its positions in the current chunk, so only candidates of length >= 3
    are examined. Like the spec, lengths are compared uncapped and the winner is capped afterwards.
    """
    best_length, best_position, limit = 0, 0, end - position
    for candidate in reversed(heads.get(data[position : position + 3], [])[-MAX_CANDIDATES:]):
        if best_length and data[candidate + best_length] != data[position + best_length]:
            continue  # cannot be longer than the best match so far
        length = _match_length(data, candidate, position, limit)
        if length > best_length:
            best_length, best_position = length, candidate
            if length == limit:
                break
    maximum_length = _copy_token_help(position - chunk_start)[1]
    return position - best_position, min(best_length, maximum_length)


def _compress_chunk(data: bytes, start: int, end: int) -> bytes:
    """[MS-OVBA] 2.4.1.3.7: encode data[start:end] (at most 4096 bytes) as one CompressedChunk."""
    out, heads, position = bytearray(), {}, start
    while position < end:  # [MS-OVBA] 2.4.1.3.8: a TokenSequence is a FlagByte and up to 8 tokens
        flag_index, flags = len(out), 0
        out.append(0)
        for bit in range(8):
            if position >= end:
                break
            offset, length = _find_match(data, start, position, end, heads) if end - position >= 3 else (0, 0)
            if length >= 3:  # CopyToken, [MS-OVBA] 2.4.1.3.9 and 2.4.1.3.19.3 Pack CopyToken
                bit_count = _copy_token_help(position - start)[0]
                out += struct.pack("<H", ((offset - 1) << (16 - bit_count)) | (length - 3))
                flags |= 1 << bit
            else:  # LiteralToken
                out.append(data[position])
                length = 1
            for index in range(position, min(position + length, end - 2)):
                heads.setdefault(data[index : index + 3], []).append(index)
            position += length
        out[flag_index] = flags
    if len(out) <= CHUNK_SIZE:  # [MS-OVBA] 2.4.1.1.5 header: size - 3, signature 0b011, flag 1 (compressed)
        return struct.pack("<H", 0xB000 | (len(out) - 1)) + out
    # [MS-OVBA] 2.4.1.3.10 raw chunk (flag 0, CompressedChunkSize 4095): 4096 bytes as they are. A last chunk
    # shorter than 4096 bytes only gets here when nearly incompressible (not with source text); padding it would
    # change the decompressed data, so its bytes are written unpadded, as oletools' decompressor and ours read it.
    return struct.pack("<H", 0x3FFF) + data[start:end]


def compress(data: bytes) -> bytes:
    """[MS-OVBA] 2.4.1.3.6: return the CompressedContainer (signature 0x01, then chunks) for `data`."""
    data = bytes(data)
    starts = range(0, len(data), CHUNK_SIZE)
    return b"\x01" + b"".join(_compress_chunk(data, s, min(s + CHUNK_SIZE, len(data))) for s in starts)


def decompress(data: bytes) -> bytes:
    """[MS-OVBA] 2.4.1.3.1: decompress a CompressedContainer."""
    if not data or data[0] != 0x01:
        raise ValueError("not a compressed container: signature byte must be 0x01")
    out, position = bytearray(), 1
    while position < len(data):
        (header,) = struct.unpack_from("<H", data, position)
        if (header >> 12) & 0b111 != 0b011:
            raise ValueError(f"bad chunk signature at offset {position}")
        chunk_end, position = min(position + (header & 0x0FFF) + 3, len(data)), position + 2
        if not header & 0x8000:  # raw chunk, [MS-OVBA] 2.4.1.3.3
            out += data[position:chunk_end]
        else:
            _decompress_tokens(data, position, chunk_end, out)
        position = chunk_end
    return bytes(out)


def _decompress_tokens(data: bytes, position: int, end: int, out: bytearray) -> None:
    """[MS-OVBA] 2.4.1.3.2 and 2.4.1.3.4: decode the TokenSequences of one compressed chunk into `out`."""
    chunk_start = len(out)
    while position < end:
        flags, position = data[position], position + 1
        for bit in range(8):
            if position >= end:
                break
            if not flags >> bit & 1:
                out.append(data[position])
                position += 1
                continue
            (token,) = struct.unpack_from("<H", data, position)
            position += 2
            bit_count = _copy_token_help(len(out) - chunk_start)[0]  # 2.4.1.3.19.2 Unpack CopyToken
            length, offset = (token & (0xFFFF >> bit_count)) + 3, (token >> (16 - bit_count)) + 1
            if offset > len(out) - chunk_start:
                raise ValueError("copy token points before the start of its chunk")
            pattern = out[len(out) - offset : len(out) - offset + length]
            out += (pattern * (length // len(pattern) + 1))[:length]  # overlapping copies repeat the pattern


# --- [MS-OVBA] 2.3 streams ----------------------------------------------------------------------------------


def _record(record_id: int, payload: bytes) -> bytes:
    """A dir stream record: Id (2 bytes), Size (4 bytes), then the payload."""
    return struct.pack("<HI", record_id, len(payload)) + payload


def _text_records(record_id: int, unicode_id: int, text: str, encoding: str) -> bytes:
    """An MBCS record followed by its UTF-16LE twin (docstrings, help files, constants, names)."""
    return _record(record_id, text.encode(encoding)) + _record(unicode_id, text.encode("utf-16-le"))


def _dir_stream(modules: list[VbaModule], project_name: str, codepage: int) -> bytes:
    """[MS-OVBA] 2.3.4.2: the (uncompressed) dir stream."""
    enc = f"cp{codepage}"
    info = [  # 2.3.4.2.1 PROJECTINFORMATION. SysKind 1 (Win32), as 32-bit Office writes it: every Office build,
        # 64-bit included, reads it, and with no compiled code in the project it only records its origin.
        _record(0x0001, struct.pack("<I", 1)),
        _record(0x0002, struct.pack("<I", 0x409)),  # PROJECTLCID
        _record(0x0014, struct.pack("<I", 0x409)),  # PROJECTLCIDINVOKE
        _record(0x0003, struct.pack("<H", codepage)),  # PROJECTCODEPAGE
        _record(0x0004, project_name.encode(enc)),  # PROJECTNAME
        _text_records(0x0005, 0x0040, "", enc),  # PROJECTDOCSTRING
        _record(0x0006, b"") + _record(0x003D, b""),  # PROJECTHELPFILEPATH (HelpFile1, HelpFile2)
        _record(0x0007, struct.pack("<I", 0)),  # PROJECTHELPCONTEXT
        _record(0x0008, struct.pack("<I", 0)),  # PROJECTLIBFLAGS
        struct.pack("<HIIH", 0x0009, 4, 1, 0),  # PROJECTVERSION: its Reserved "size" is 4, then 4 + 2 bytes
        _text_records(0x000C, 0x003C, "", enc),  # PROJECTCONSTANTS
    ]
    references = [  # 2.3.4.2.2: REFERENCENAME then REFERENCEREGISTERED (2.3.4.2.2.5)
        _text_records(0x0016, 0x003E, name, enc)
        + _record(0x000D, struct.pack("<I", len(libid)) + libid.encode(enc) + struct.pack("<IH", 0, 0))
        for name, libid in REFERENCES
    ]
    records = [  # 2.3.4.2.3 PROJECTMODULES, PROJECTCOOKIE, then one MODULE record each (2.3.4.2.3.2)
        _record(0x000F, struct.pack("<H", len(modules))),
        _record(0x0013, struct.pack("<H", 0xFFFF)),
    ]
    for module in modules:
        records += [
            _record(0x0019, module.name.encode(enc)),  # MODULENAME
            _record(0x0047, module.name.encode("utf-16-le")),  # MODULENAMEUNICODE
            _text_records(0x001A, 0x0032, module.name, enc),  # MODULESTREAMNAME
            _text_records(0x001C, 0x0048, "", enc),  # MODULEDOCSTRING
            _record(0x0031, struct.pack("<I", 0)),  # MODULEOFFSET: the stream holds only compressed source
            _record(0x001E, struct.pack("<I", 0)),  # MODULEHELPCONTEXT
            _record(0x002C, struct.pack("<H", 0xFFFF)),  # MODULECOOKIE
            struct.pack("<HI", 0x0021 if module.kind == "standard" else 0x0022, 0),  # MODULETYPE
            struct.pack("<HI", 0x002B, 0),  # module Terminator
        ]
    return b"".join(info + references + records) + struct.pack("<HI", 0x0010, 0)  # dir Terminator


def module_source(module: VbaModule) -> str:
    """The source text as stored in the module stream: Attribute header lines, then the code, CRLF lines."""
    lines = [f'Attribute VB_Name = "{module.name}"']
    if module.kind == "document":
        base = WORKBOOK_BASE if module.name == "ThisWorkbook" else WORKSHEET_BASE
        lines += [f'Attribute VB_Base = "{base}"', "Attribute VB_GlobalNameSpace = False",
                  "Attribute VB_Creatable = False", "Attribute VB_PredeclaredId = True", "Attribute VB_Exposed = True",
                  "Attribute VB_TemplateDerived = False", "Attribute VB_Customizable = True"]
    elif module.kind == "class":  # Excel's order: VB_Base, the fixed header, then e.g. VB_Description
        given = dict(module.attributes)
        lines.append(f'Attribute VB_Base = "{CLASS_BASE}"')
        lines += [f"Attribute {name} = {given.pop(name, default)}" for name, default in CLASS_HEADER]
        lines += [f"Attribute {name} = {value}" for name, value in given.items() if name not in ("VB_Name", "VB_Base")]
    return "\r\n".join(lines + module.code.replace("\r\n", "\n").split("\n"))


def _encrypt(data: bytes, project_id: str, seed: int) -> str:
    """[MS-OVBA] 2.4.3.2 Data Encryption, hex encoded; `seed` (and the ignored bytes, zero) make it deterministic."""
    project_key = sum(project_id.encode("ascii")) & 0xFF  # checksum of ProjectId.ProjectCLSID, braces included
    out = [seed, seed ^ 2, seed ^ project_key]  # Seed, VersionEnc (Version 2), ProjKeyEnc
    unencrypted1, encrypted1, encrypted2 = project_key, out[2], out[1]
    for byte in bytes((seed & 6) // 2) + struct.pack("<I", len(data)) + data:  # IgnoredEnc, DataLengthEnc, DataEnc
        out.append(byte ^ ((encrypted2 + unencrypted1) & 0xFF))
        encrypted2, encrypted1, unencrypted1 = encrypted1, out[-1], byte
    return bytes(out).hex().upper()


def _project_stream(modules: list[VbaModule], project_name: str, project_id: str, codepage: int) -> bytes:
    """[MS-OVBA] 2.3.1: the PROJECT stream (text properties), lines ending with CRLF."""
    items = {"document": "Document={}/&H00000000", "standard": "Module={}", "class": "Class={}"}
    lines = [f'ID="{project_id}"'] + [items[m.kind].format(m.name) for m in modules]
    lines += [f'Name="{project_name}"', 'HelpContextID="0"', 'VersionCompatible32="393222000"',
              # Protection state 0 (2.3.1.15), no password (a single 0x00, 2.3.1.16), visible (0xFF, 2.3.1.17):
              # what Office writes for an unprotected project, encrypted with fixed seeds for reproducibility.
              f'CMG="{_encrypt(bytes(4), project_id, 0x13)}"', f'DPB="{_encrypt(bytes(1), project_id, 0x25)}"',
              f'GC="{_encrypt(bytes([0xFF]), project_id, 0x37)}"', "",
              "[Host Extender Info]", "&H00000001={3832D640-CF90-11CF-8E43-00A0C911005A};VBE;&H00000000", "",
              "[Workspace]"] + [f"{m.name}=0, 0, 0, 0, C" for m in modules]
    return "".join(line + "\r\n" for line in lines).encode(f"cp{codepage}")


def _projectwm_stream(modules: list[VbaModule], codepage: int) -> bytes:
    """[MS-OVBA] 2.3.3: MBCS name NUL, UTF-16LE name NUL NUL, for each module; then a NUL NUL terminator."""
    names = (m.name.encode(f"cp{codepage}") + b"\0" + m.name.encode("utf-16-le") + b"\0\0" for m in modules)
    return b"".join(names) + b"\0\0"


def _validate(modules: list[VbaModule], project_name: str) -> None:
    """Reject names VBA would not accept, unknown kinds, duplicates and code carrying its own header."""
    if not IDENTIFIER.match(project_name):
        raise ValueError(f"invalid VBA project name: {project_name!r}")
    seen: set[str] = set()
    for module in modules:
        if not IDENTIFIER.match(module.name):
            raise ValueError(f"invalid VBA module name: {module.name!r}")
        if module.kind not in KINDS:
            raise ValueError(f"module {module.name}: kind must be one of {KINDS}, not {module.kind!r}")
        if module.code.lstrip().startswith("Attribute VB_"):
            raise ValueError(f"module {module.name}: code must not start with Attribute lines (they are generated)")
        if module.name.upper() in seen:
            raise ValueError(f"duplicate VBA module name: {module.name}")
        seen.add(module.name.upper())


def build_vba_project(modules: list[VbaModule], project_name: str = "VBAProject", codepage: int = 1252) -> bytes:
    """Return the bytes of a vbaProject.bin compound file."""
    _validate(modules, project_name)
    project_id = "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:thidua:vba:{project_name}")).upper() + "}"
    streams = {
        "PROJECT": _project_stream(modules, project_name, project_id, codepage),
        "PROJECTwm": _projectwm_stream(modules, codepage),
        "VBA/_VBA_PROJECT": VBA_PROJECT_STREAM,
        "VBA/dir": compress(_dir_stream(modules, project_name, codepage)),
    }
    for module in modules:  # 2.3.4.3: MODULEOFFSET is 0, so the stream is just the compressed source
        streams[f"VBA/{module.name}"] = compress(module_source(module).encode(f"cp{codepage}"))
    return write_compound_file(streams)


# --- reading exported modules -------------------------------------------------------------------------------

ATTRIBUTE = re.compile(r"Attribute (VB_\w+) = (.*?)\Z")
SHEET_NAME = re.compile(r"(ThisWorkbook|Sheet\d+)\Z")


def _read_module(file: Path) -> VbaModule:
    """Parse one exported .bas/.cls file: drop the class header and the leading Attribute lines."""
    try:
        text = file.read_bytes().decode("ascii")
    except UnicodeDecodeError as error:
        raise ValueError(f"{file}: VBA source must be ASCII (byte 0x{error.object[error.start]:02X} at "
                         f"offset {error.start})") from None
    lines = text.replace("\r\n", "\n").split("\n")
    if file.suffix.lower() == ".cls" and lines[0].startswith("VERSION ") and "END" in lines:
        lines = lines[lines.index("END") + 1 :]  # VERSION 1.0 CLASS / BEGIN ... END is not part of the source
    attributes: dict[str, str] = {}
    while lines and (match := ATTRIBUTE.match(lines[0])):
        attributes[match[1]] = match[2]
        lines.pop(0)
    name = attributes.get("VB_Name", file.stem).strip('"')
    if not name.isascii() or not IDENTIFIER.match(name):
        raise ValueError(f"{file}: invalid VBA module name {name!r} (ASCII letters, digits, _; at most 31)")
    if file.suffix.lower() == ".bas":
        kind = "standard"
    else:  # VB_Base marks a document module; VB_PredeclaredId alone also occurs on ordinary classes
        base = attributes.get("VB_Base", "").strip('"')
        kind = "document" if (base and base != CLASS_BASE) or SHEET_NAME.match(name) else "class"
    if kind == "class":
        return VbaModule(name, "\n".join(lines), kind, tuple((k, v) for k, v in attributes.items() if k != "VB_Name"))
    return VbaModule(name, "\n".join(lines), kind)


def modules_from_dir(path: str | Path) -> list[VbaModule]:
    """Read the *.bas and *.cls files of a directory (sorted by file name) as VbaModules."""
    files = sorted(f for f in Path(path).iterdir() if f.suffix.lower() in (".bas", ".cls") and f.is_file())
    return [_read_module(file) for file in files]
