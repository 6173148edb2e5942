"""How `just test` shares the suite between its two workers (tests/fixtures/sharing.py):
the real node runs once per machine, so every test that drives it is one unit of work."""

from __future__ import annotations

from tests.fixtures.sharing import REAL_NODE, group_of


def test_every_real_node_test_is_in_one_unit_and_other_modules_are_their_own() -> None:
    assert group_of("tests/node/test_dev_up.py::test_x") == REAL_NODE
    assert group_of("tests/real/test_platform.py::test_y[a::b]") == REAL_NODE
    assert group_of("tests/gateway/test_stores.py::test_z[tests/real/]") == (
        "tests/gateway/test_stores.py"
    )
    assert group_of("tests/nodes_elsewhere.py::test_w") == "tests/nodes_elsewhere.py"
