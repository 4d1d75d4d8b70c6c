"""The signal map contract."""

import pytest

from churnlab.data import contract as S
from churnlab.data.signal_map import (
    SignalMapError,
    default_signal_map_path,
    load_signal_map,
    parse_signal_map,
)


def test_default_signal_map_covers_every_family_with_labels():
    smap = load_signal_map(default_signal_map_path())
    assert {s.family for s in smap} == set(S.FAMILIES)
    assert all(s.label and s.kind in S.KINDS for s in smap)
    assert smap["nps_response"].min_value == 0 and smap["nps_response"].max_value == 10
    assert smap["nps_response"].alert_below == 7


@pytest.mark.parametrize("entry, message", [
    ({"family": "vibes", "kind": "count", "label": "x"}, "family 'vibes' is not one of"),
    ({"family": "usage", "kind": "level", "label": "x"}, "kind 'level' is not one of"),
    ({"family": "usage", "kind": "count"}, "'label' is required"),
    ({"family": "usage", "kind": "gauge", "label": "x", "min": 5, "max": 1}, "min 5 is above max 1"),
    ({"family": "usage", "kind": "flag", "label": "x", "alert_above": 3}, "applies to gauges only"),
])
def test_invalid_signal_map_entries_are_named(entry, message):
    with pytest.raises(SignalMapError, match="my_event") as err:
        parse_signal_map({"event_types": {"ok": {"family": "usage", "kind": "count",
                                                   "label": "fine"}, "my_event": entry}})
    assert message in str(err.value)


def test_signal_map_round_trips_through_its_dict_form():
    smap = load_signal_map(default_signal_map_path())
    assert parse_signal_map(smap.to_dict()) == smap


def test_missing_signal_map_file_is_a_clear_error(tmp_path):
    with pytest.raises(SignalMapError, match="not found"):
        load_signal_map(tmp_path / "nope.yaml")
