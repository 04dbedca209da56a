"""Minimal writer of a Compound File Binary file ([MS-CFB]), version 3, standard library only.

Layout of the written file: header, FAT sectors, directory sectors, MiniFAT sectors, the mini stream (the
root entry's stream), then the regular streams. Everything is deterministic: CLSIDs, state bits and
timestamps are zero.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

SECTOR_SIZE = 512  # version 3: sector shift 9 ([MS-CFB] 2.2)
MINI_SECTOR_SIZE = 64  # mini sector shift 6
MINI_STREAM_CUTOFF = 4096  # smaller streams live in the mini stream ([MS-CFB] 2.2 Mini Stream Cutoff Size)
HEADER_DIFAT_ENTRIES = 109  # DIFAT entries held by the header; we write no DIFAT sectors
FREESECT, ENDOFCHAIN, FATSECT = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD  # [MS-CFB] 2.1
NOSTREAM = 0xFFFFFFFF
STORAGE, STREAM, ROOT = 1, 2, 5  # object types, [MS-CFB] 2.6.1
RED, BLACK = 0, 1
SIGNATURE = bytes.fromhex("D0CF11E0A1B11AE1")
ENTRY = struct.Struct("<64sHBBIII16sIQQIQ")  # one 128-byte directory entry, [MS-CFB] 2.6.1


@dataclass
class _Entry:
    """A directory entry being laid out."""

    name: str
    kind: int
    data: bytes = b""
    children: list[int] = field(default_factory=list)
    left: int = NOSTREAM
    right: int = NOSTREAM
    child: int = NOSTREAM
    color: int = BLACK
    start: int = 0
    size: int = 0


def _sort_key(name: str) -> tuple[int, str]:
    """[MS-CFB] 2.6.4: shorter names sort first; names of equal length compare by their upper-case form."""
    return len(name), name.upper()


def _check_name(name: str) -> None:
    """[MS-CFB] 2.6.1: at most 31 UTF-16 characters, none of '/', '\\', ':', '!'."""
    if not name or len(name.encode("utf-16-le")) > 62 or any(c in name for c in "/\\:!"):
        raise ValueError(f"invalid compound file entry name: {name!r}")


def _collect(streams: dict[str, bytes]) -> list[_Entry]:
    """Create the root, the storages (implicitly, from the paths) and the streams; entry 0 is the root."""
    entries = [_Entry("Root Entry", ROOT)]
    index: dict[tuple[str, ...], int] = {(): 0}
    for path in sorted(streams):
        parts = tuple(path.split("/"))
        for depth, name in enumerate(parts, start=1):
            _check_name(name)
            key = parts[:depth]
            is_stream = depth == len(parts)
            if key in index:
                if is_stream or entries[index[key]].kind == STREAM:
                    raise ValueError(f"path used both as a storage and a stream: {path!r}")
                continue
            index[key] = len(entries)
            entries[index[parts[: depth - 1]]].children.append(len(entries))
            entries.append(_Entry(name, STREAM, streams[path]) if is_stream else _Entry(name, STORAGE))
    return entries


def _link_siblings(entries: list[_Entry], ids: list[int], depth: int, depths: dict[int, int]) -> int:
    """Build a balanced binary search tree from sorted entry ids; return the id of its root."""
    if not ids:
        return NOSTREAM
    mid = len(ids) // 2
    node = entries[ids[mid]]
    depths[ids[mid]] = depth
    node.left = _link_siblings(entries, ids[:mid], depth + 1, depths)
    node.right = _link_siblings(entries, ids[mid + 1 :], depth + 1, depths)
    return ids[mid]


def _build_trees(entries: list[_Entry]) -> None:
    """[MS-CFB] 2.6.4: each storage's children form a red-black tree.

    Splitting the sorted children at the middle gives a tree whose levels are all full except the deepest
    one; colouring that deepest level red (and everything else black) satisfies the red-black rules:
    the root is black, red nodes are leaves, and every path to a leaf holds the same number of black nodes.
    """
    for entry in entries:
        if entry.kind == STREAM or not entry.children:
            continue
        depths: dict[int, int] = {}
        ordered = sorted(entry.children, key=lambda i: _sort_key(entries[i].name))
        if len({_sort_key(entries[i].name) for i in ordered}) < len(ordered):
            raise ValueError(f"names differing only in case under {entry.name!r}")
        entry.child = _link_siblings(entries, ordered, 0, depths)
        deepest = max(depths.values())
        for entry_id, depth in depths.items():
            entries[entry_id].color = RED if depth == deepest > 0 else BLACK


def _count(length: int, size: int) -> int:
    """Number of `size`-byte sectors needed for `length` bytes."""
    return -(-length // size)


def _pad(data: bytes, size: int) -> bytes:
    return data + b"\0" * (-len(data) % size)


def _chain(table: list[int], count: int) -> int:
    """Append a chain of `count` consecutive sectors to an allocation table; return its first sector."""
    if count == 0:
        return ENDOFCHAIN
    start = len(table)
    table.extend(range(start + 1, start + count))
    table.append(ENDOFCHAIN)
    return start


def _entry_bytes(entry: _Entry | None) -> bytes:
    if entry is None:  # unused entry, [MS-CFB] 2.6.3
        return ENTRY.pack(b"", 0, 0, 0, NOSTREAM, NOSTREAM, NOSTREAM, b"", 0, 0, 0, 0, 0)
    name = entry.name.encode("utf-16-le") + b"\0\0"
    return ENTRY.pack(
        name, len(name), entry.kind, entry.color, entry.left, entry.right, entry.child, b"", 0, 0, 0,
        entry.start, entry.size,
    )


def write_compound_file(streams: dict[str, bytes]) -> bytes:
    """Return the bytes of a version 3 compound file holding `streams` (keys like "VBA/dir")."""
    entries = _collect(streams)
    _build_trees(entries)
    small = [e for e in entries if e.kind == STREAM and len(e.data) < MINI_STREAM_CUTOFF]
    large = [e for e in entries if e.kind == STREAM and len(e.data) >= MINI_STREAM_CUTOFF]

    minifat: list[int] = []  # [MS-CFB] 2.4: small streams are chained in 64-byte mini sectors
    for entry in small:
        entry.start, entry.size = _chain(minifat, _count(len(entry.data), MINI_SECTOR_SIZE)), len(entry.data)
    mini_stream = b"".join(_pad(e.data, MINI_SECTOR_SIZE) for e in small)
    minifat_bytes = struct.pack(f"<{len(minifat)}I", *minifat)
    minifat_bytes += b"\xff" * (-len(minifat_bytes) % SECTOR_SIZE)  # FREESECT padding
    dir_sectors = _count(len(entries), SECTOR_SIZE // ENTRY.size)  # 4 entries per sector
    minifat_sectors, mini_stream_sectors = len(minifat_bytes) // SECTOR_SIZE, _count(len(mini_stream), SECTOR_SIZE)
    used = dir_sectors + minifat_sectors + mini_stream_sectors + sum(_count(len(e.data), SECTOR_SIZE) for e in large)
    fat_count = 1
    while fat_count * SECTOR_SIZE // 4 < fat_count + used:
        fat_count += 1
    if fat_count > HEADER_DIFAT_ENTRIES:  # [MS-CFB] 2.5: would need DIFAT sectors, not supported
        raise ValueError(f"compound file too large: needs {fat_count} FAT sectors, at most 109 supported")

    fat = [FATSECT] * fat_count  # [MS-CFB] 2.3: the FAT sectors come first
    dir_start = _chain(fat, dir_sectors)
    minifat_start = _chain(fat, minifat_sectors)
    entries[0].start = _chain(fat, mini_stream_sectors)  # [MS-CFB] 2.6.2: the root entry holds the mini stream
    entries[0].size = len(mini_stream)
    for entry in large:
        entry.start, entry.size = _chain(fat, _count(len(entry.data), SECTOR_SIZE)), len(entry.data)
    fat += [FREESECT] * (fat_count * SECTOR_SIZE // 4 - len(fat))

    unused = dir_sectors * SECTOR_SIZE // ENTRY.size - len(entries)
    directory = b"".join(_entry_bytes(e) for e in entries) + _entry_bytes(None) * unused
    difat = list(range(fat_count)) + [FREESECT] * (HEADER_DIFAT_ENTRIES - fat_count)
    header = struct.pack(  # [MS-CFB] 2.2 Compound File Header
        "<8s16sHHHHH6sIIIIIIIII109I", SIGNATURE, b"", 0x003E, 0x0003, 0xFFFE, 9, 6, b"", 0, fat_count,
        dir_start, 0, MINI_STREAM_CUTOFF, minifat_start, minifat_sectors, ENDOFCHAIN, 0, *difat,
    )
    body = [struct.pack(f"<{len(fat)}I", *fat), directory, minifat_bytes, _pad(mini_stream, SECTOR_SIZE)]
    body += [_pad(e.data, SECTOR_SIZE) for e in large]
    return header + b"".join(body)
