"""The report's appendix (.xlsx) — kept importable as ``thidua.appendix``; the module is
:mod:`thidua.report.appendix`."""

from .report.appendix import (  # noqa: F401
    CHECKED_FIELDS,
    FIRST_DATA_ROW,
    HEADER_ROW,
    MET_VI,
    NOT_MET_VI,
    SHEET,
    SHEET_STATUS,
    STAMP_KIND,
    STAMP_SCHEMA,
    STAMP_SHEET,
    STATUS_FROM_VI,
    Appendix,
    AppendixTable,
    build_table,
    canonical,
    checksum,
    describe,
    previous_year_from_appendix,
    read_appendix,
    stamp_for,
    write_appendix,
)
