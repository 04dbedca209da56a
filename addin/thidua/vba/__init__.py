"""Source-only VBA project writer ([MS-OVBA]) on top of a minimal compound file writer ([MS-CFB])."""

from .cfb import write_compound_file
from .ovba import VbaModule, build_vba_project, compress, decompress, modules_from_dir

__all__ = ["VbaModule", "build_vba_project", "compress", "decompress", "modules_from_dir", "write_compound_file"]
