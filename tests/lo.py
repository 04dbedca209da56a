"""LibreOffice for tests: skip with a reason where it is missing (CI installs it: see .ci/run)."""

from __future__ import annotations

import os

import pytest
from thidua.office import soffice

needs_soffice = pytest.mark.skipif(
    soffice() is None and not os.environ.get("CI"),
    reason="LibreOffice (soffice) is not installed; .ci/run installs it, so CI always runs these tests",
)
