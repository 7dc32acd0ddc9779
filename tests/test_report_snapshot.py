"""Every table and sentence of the report, built from the fixture study of
``tests/report_fixture.py``, cell for cell against ``tests/data/report_tables_snapshot.json``.

A refactoring of the report layer must leave every cell as it was. A deliberate change of a
rule updates the snapshot (``python tests/report_fixture.py --write``) in the same commit, and
the commit message names each changed cell (table, row, column, old → new)."""

from __future__ import annotations

import json

from report_fixture import SNAPSHOT, diff_reports, fixture_report


def test_report_tables_match_the_snapshot(tmp_path):
    old = json.loads(SNAPSHOT.read_text())
    new = fixture_report(tmp_path)
    changed = diff_reports(old, new)
    assert not changed, "report cells changed:\n" + "\n".join(changed)
