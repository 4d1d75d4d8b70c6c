"""Honesty figures of churnlab on the simulator's profiles (worlds shaped unlike the demo).

Per profile: simulate, analyse the signals (significant lift tests, adjusted directions
against the planted truth), train the champion with its backtest, and read the backtest:
the champion's Uno C next to the calendar-only and tenure-only baselines (and the paired
lead with its standard error), and the 90-day calibration out of time (mean predicted vs
observed, mean absolute decile error). Writes docs/RESULTS_profiles.md.

    .venv/bin/python scripts/profile_check.py                   # 3 profiles + short
    .venv/bin/python scripts/profile_check.py --profiles consumer --seeds 1 2 3
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from churnlab.data.lifecycle import observation_end
from churnlab.data.warehouse import open_warehouse
from churnlab.errors import DataError
from churnlab.evaluation.champion import train_champion
from churnlab.signals.analysis import analyse_signals
from churnlab.sim.profiles import SHORT_MONTHS, simulate_profile, write_profile

ROOT = Path(__file__).resolve().parents[1]


def check(profile: str, n_accounts: int, n_months: int, seed: int, work: Path) -> dict:
    t0 = time.perf_counter()
    world = simulate_profile(profile, n_accounts, n_months, seed)
    data = write_profile(world, work / f"{profile}-{n_months}-{seed}")
    truth = {k: v["direction"] for k, v in world.signal_effects.items()}
    out = {"profile": profile, "months": n_months, "seed": seed, "accounts": n_accounts}
    with open_warehouse(data) as wh:
        as_of = observation_end(wh)
        try:
            sig = analyse_signals(wh, as_of=as_of)
            per_type = sig.drop_duplicates("event_type").set_index("event_type")
            agree = [per_type.loc[k, "adj_direction"] == v for k, v in truth.items()
                     if k in per_type.index]
            out["significant_tests"] = f"{int(sig['significant'].sum())}/{len(sig)}"
            out["adjusted_significant"] = int((per_type["adj_direction"] != "none").sum())
            out["direction_agreement"] = f"{sum(agree)}/{len(agree)}"
        except DataError as exc:
            out["significant_tests"] = f"not run: {exc}"
        validated = True
        try:
            model, card = train_champion(wh, as_of, work / f"m-{profile}-{n_months}-{seed}",
                                         n_estimators=150, random_state=seed)
        except DataError:
            validated = False
            model, card = train_champion(wh, as_of, work / f"m-{profile}-{n_months}-{seed}",
                                         backtest=False, random_state=seed)
    out["champion"] = card["kind"]
    out["validated"] = validated
    if validated:
        summary = pd.DataFrame(card["backtest_summary"]).set_index("model")
        for kind in (card["kind"], "calendar", "tenure"):
            key = "champion_uno_c" if kind == card["kind"] else f"{kind}_uno_c"
            out[key] = round(float(summary.loc[kind, "uno_c"]), 3) if kind in summary.index \
                else np.nan
        for base, lead in card.get("lead_over_baselines", {}).items():
            out[f"lead_over_{base}"] = f"{lead['difference']:+.3f} (se {lead['se']:.3f})"
        bt = pd.DataFrame(card["backtest"])
        mine = bt[bt["model"] == card["kind"]]
        if "mean_p90" in mine:
            out["mean_p90"] = round(float(mine["mean_p90"].mean()), 4)
            out["observed_90d"] = round(float(mine["observed_90d"].mean()), 4)
            out["p90_ratio"] = round(out["mean_p90"] / out["observed_90d"], 3) \
                if out["observed_90d"] > 0 else np.nan
            out["decile_error_90d"] = round(float(mine["calibration_error_90d"].mean()), 4)
        if "mean_p_renewal" in mine and mine["mean_p_renewal"].notna().any():
            out["mean_p_renewal"] = round(float(mine["mean_p_renewal"].mean()), 4)
            out["observed_renewal"] = round(float(mine["observed_renewal"].mean()), 4)
            out["renewal_ratio"] = round(out["mean_p_renewal"] / out["observed_renewal"], 3) \
                if out["observed_renewal"] > 0 else np.nan
            out["decile_error_renewal"] = round(float(mine["calibration_error_renewal"].mean()),
                                                4)
    out["seconds"] = round(time.perf_counter() - t0)
    print(out, file=sys.stderr, flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", nargs="+",
                    default=["consumer", "usage-only", "random-churn"])
    ap.add_argument("--accounts", type=int, default=2000)
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1])
    ap.add_argument("--no-short", dest="short", action="store_false",
                    help=f"skip the run of each profile with {SHORT_MONTHS} months of history")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "RESULTS_profiles.md")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="churnlab-profiles-") as tmp:
        for profile in args.profiles:
            for seed in args.seeds:
                rows.append(check(profile, args.accounts, args.months, seed, Path(tmp)))
                if args.short:
                    rows.append(check(profile, args.accounts, SHORT_MONTHS, seed, Path(tmp)))
    table = pd.DataFrame(rows)
    command = " ".join(["scripts/profile_check.py", *(argv if argv is not None
                                                     else sys.argv[1:])])
    text = ("# churnlab on the simulator's profiles\n\n"
            f"`.venv/bin/python {command}` ({args.accounts} accounts, "
            f"{args.months} months and {SHORT_MONTHS} months, seeds {args.seeds}). "
            "Backtest figures are out of time (the champion's own backtest rows); "
            "`direction_agreement` compares each event type's adjusted direction "
            "(q < 0.05 and a hazard ratio per sd beyond 1.05, else none) with the planted truth. "
            "Calibration: mean predicted vs observed at 90 days (`p90_ratio`) and before the "
            "next renewal on the rows whose renewal fell inside the follow-up "
            "(`renewal_ratio`), with the mean absolute decile error of each.\n\n"
            + table.to_csv(sep="|", index=False) + "\n")
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
