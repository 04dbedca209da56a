#!/usr/bin/env python3
"""CI check: the committed ``workbook/ThiDua2024.xlsm`` is exactly what ``thidua build-workbook`` makes from the
committed sources (``macros/``, the ribbon, the catalogue, the pinned xlwings).

It rebuilds the workbook into a temporary file and compares both packages part by part (unzipped). Only the
timestamps are ignored: the zip entries' dates and the ``dcterms:created`` / ``dcterms:modified`` fields of
``docProps/core.xml``. Exit status 0 when every part is equal, 1 listing the parts that differ (for ``vbaProject.bin``
also the VBA streams that differ, when olefile is installed), 2 when it cannot run.

    python tools/check_workbook.py [--macros DIR] [--workbook FILE]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
try:
    import thidua  # noqa: F401
except ImportError:  # not installed: use the source tree
    sys.path.insert(0, str(ROOT / "addin"))

from thidua.errors import ThiDuaError  # noqa: E402
from thidua.workbook import BUILD_PROPERTY, build_info, build_workbook  # noqa: E402

CORE = "docProps/core.xml"
TIMESTAMP = re.compile(r"(<dcterms:(?:created|modified)\b[^>]*>)[^<]*(</dcterms:(?:created|modified)>)")


def parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def normalised(name: str, data: bytes) -> bytes:
    if name == CORE:
        return TIMESTAMP.sub(r"\1\2", data.decode("utf-8")).encode("utf-8")
    return data


def vba_streams(data: bytes) -> dict[str, bytes] | None:
    try:
        import olefile
    except ImportError:
        return None
    ole = olefile.OleFileIO(data)
    try:
        return {"/".join(p): ole.openstream(p).read() for p in ole.listdir()}
    finally:
        ole.close()


def compare(committed: Path, rebuilt: Path) -> list[str]:
    """The differences between two packages, one line each (empty when equal)."""
    a, b = parts(committed), parts(rebuilt)
    problems = [f"{name}: only in the committed workbook" for name in sorted(set(a) - set(b))]
    problems += [f"{name}: missing from the committed workbook" for name in sorted(set(b) - set(a))]
    for name in sorted(set(a) & set(b)):
        if normalised(name, a[name]) == normalised(name, b[name]):
            continue
        line = f"{name}: differs"
        if name.endswith("vbaProject.bin"):
            streams_a, streams_b = vba_streams(a[name]), vba_streams(b[name])
            if streams_a is not None and streams_b is not None:
                changed = sorted(k for k in set(streams_a) | set(streams_b) if streams_a.get(k) != streams_b.get(k))
                line += f" (streams: {', '.join(changed)})"
        problems.append(line)
    return problems


def recorded_build_info(path: Path) -> str | None:
    """The ``ThiDuaBuild`` custom property of a built workbook (library versions), if any."""
    try:
        xml = parts(path).get("docProps/custom.xml", b"").decode("utf-8")
    except (OSError, zipfile.BadZipFile):
        return None
    match = re.search(rf'name="{BUILD_PROPERTY}"[^>]*>\s*<vt:lpwstr>([^<]*)</vt:lpwstr>', xml)
    return match[1] if match else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--macros", type=Path, default=ROOT / "macros", help="VBA sources (default: macros/)")
    parser.add_argument("--workbook", type=Path, default=ROOT / "workbook" / "ThiDua2024.xlsm",
                        help="the committed workbook (default: workbook/ThiDua2024.xlsm)")
    args = parser.parse_args(argv)
    if not args.workbook.is_file():
        print(f"check_workbook: {args.workbook} does not exist; run `thidua build-workbook`.", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="thidua-check-") as tmp:
        rebuilt = Path(tmp) / "ThiDua2024.xlsm"
        try:
            build_workbook(rebuilt, args.macros)
        except ThiDuaError as exc:
            print(f"check_workbook: cannot rebuild: {exc.message}", file=sys.stderr)
            return 2
        try:
            problems = compare(args.workbook, rebuilt)
        except zipfile.BadZipFile as exc:
            print(f"check_workbook: {args.workbook} is not a zip package ({exc}).", file=sys.stderr)
            return 1
    if problems:
        print(f"{args.workbook} is not what the sources build ({len(problems)} parts differ):")
        for line in problems:
            print(f"  {line}")
        built_with = recorded_build_info(args.workbook)
        if built_with != build_info():
            print(f"Note: the committed workbook was built with {built_with or 'unknown versions'}; this environment "
                  f"has {build_info()}.")
        print("Rebuild it with `thidua build-workbook` and commit the result together with the sources.")
        return 1
    print(f"{args.workbook}: up to date with {args.macros}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
