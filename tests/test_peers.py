"""Level-against-peers, first-step and adjusted-direction rules on hand-made numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.signals.cohort import FIRST_DAY, REF_DATE
from churnlab.signals.peers import ABOVE, BELOW, FIRST_STEP_DAYS, not_reached, peer_indicators
from churnlab.signals.summary import _named_as


def test_bottom_and_top_fifth_are_judged_within_the_tenure_group():
    rng = np.random.default_rng(0)
    peer = np.concatenate([rng.uniform(0, 10, 100), rng.uniform(100, 110, 100)])[:, None]
    group = np.array(["young"] * 100 + ["old"] * 100)
    refs = np.array([[1.0], [1.0], [109.0], [50.0]])
    ref_group = np.array(["young", "old", "old", "unknown"])
    below = peer_indicators(BELOW, refs, ref_group, peer, group)
    above = peer_indicators(ABOVE, refs, ref_group, peer, group)
    # 1 is in the bottom fifth of the young, below every old peer; 109 is in the top
    # fifth of the old; a group without peers is not judged
    assert below[:3, 0].tolist() == [1.0, 1.0, 0.0] and np.isnan(below[3, 0])
    assert above[:3, 0].tolist() == [0.0, 0.0, 1.0]


def test_a_fifth_that_equals_the_median_defines_no_signal():
    peer = np.zeros((100, 1))
    peer[-10:] = 5.0                          # 90% of peers at zero
    out = peer_indicators(BELOW, np.array([[0.0]]), np.array(["g"]), peer,
                          np.array(["g"] * 100))
    assert np.isnan(out[0, 0])


def test_a_first_step_is_judged_only_for_accounts_seen_from_their_start():
    refs = pd.DataFrame({
        "span_start": pd.to_datetime(["2024-01-01", "2024-01-01", "2023-01-01", "2024-03-20"]),
        FIRST_DAY: pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-01",
                                            "2024-03-20"]),
        REF_DATE: pd.to_datetime(["2024-04-01"] * 4)})
    first = np.array([10.0, np.nan, np.nan, np.nan])
    out = not_reached(first, refs, 3)
    assert out[0, 0] == 0 and out[1, 0] == 1          # reached in 10 days / never
    assert np.isnan(out[2, 0])                        # started before the data
    assert np.isnan(out[3, 0])                        # not yet FIRST_STEP_DAYS old
    assert FIRST_STEP_DAYS > 12 and np.isnan(out[:, 1:]).all()


def test_a_signal_is_named_by_its_event_types_adjusted_direction():
    row = pd.Series({"kind": "fell", "label": "logins fell", "direction": "risk",
                     "lift": 2.0, "adj_hr": 0.8, "adj_direction": "protective"})
    assert _named_as(row) == "risk"                   # less of a protective thing
    row["adj_direction"] = "none"
    assert _named_as(row) == "none"                   # no effect of its own
    row.update({"kind": "occurred", "adj_direction": "risk", "direction": "protective"})
    assert _named_as(row) == "risk"                   # raw view confounded
    row["adj_hr"] = np.nan                            # (Series.update skips NaN)
    assert _named_as(row) == "protective"             # nothing adjusted: the raw view
    row["lift"] = np.nan
    assert _named_as(row) == "none"                   # never observed
