"""ThiDua 2024: forms, validation, consolidation and review reports for the 2024 emulation movement."""

__version__ = "0.1.0"
