"""Trend, anomaly and bucket-range arithmetic of tracehound.analytics.timeseries, on plain lists."""

from __future__ import annotations

import pytest

from tracehound.analytics.timeseries import (
    MAD_SCALE,
    MEAN_AD_SCALE,
    Anomaly,
    Baseline,
    BucketRange,
    TimeseriesError,
    anomalies,
    baseline,
    bucket_range,
    slope,
    trend,
)

S = 1_000_000
H = 3600 * S


# -- trend ----------------------------------------------------------------------------------------


def test_rising_series() -> None:
    t = trend([1, 2, 3, 4, 5, 6])
    assert t.slope_per_interval == pytest.approx(1.0)
    assert t.relative_change == pytest.approx(1.5)  # halves 2 and 5
    assert t.direction == "increasing"


def test_falling_series() -> None:
    t = trend([10, 8, 6, 4])
    assert t.slope_per_interval == pytest.approx(-2.0)
    assert t.relative_change == pytest.approx((5 - 9) / 9)
    assert t.direction == "decreasing"


def test_constant_series_is_flat() -> None:
    assert trend([3, 3, 3, 3]) == trend([3, 3, 3, 3], threshold=0.0)
    t = trend([3, 3, 3, 3])
    assert (t.slope_per_interval, t.relative_change, t.direction) == (0.0, 0.0, "flat")


def test_threshold_is_inclusive() -> None:
    # Halves 10 and 11: a change of exactly 0.1.
    values = [10.0, 10.0, 11.0, 11.0]
    assert (11.0 - 10.0) / 10.0 == 0.1
    assert trend(values, threshold=0.1).direction == "increasing"
    assert trend(values, threshold=0.11).direction == "flat"


def test_change_and_slope_must_agree() -> None:
    # The second half's mean doubles, but the series ends low: the fitted line falls.
    t = trend([9, 0, 0, 9, 9, 0])
    assert t.relative_change == pytest.approx(1.0)  # halves 3 and 6
    assert t.slope_per_interval == pytest.approx(-4.5 / 17.5)
    assert t.direction == "flat"
    # And the mirror image: the mean halves while the line rises.
    t = trend([0, 9, 9, 0, 0, 9])
    assert t.relative_change == pytest.approx(-0.5)
    assert t.slope_per_interval == pytest.approx(4.5 / 17.5)
    assert t.direction == "flat"


def test_odd_count_leaves_the_middle_bucket_out() -> None:
    t = trend([1, 100, 3])
    assert t.relative_change == pytest.approx(2.0)  # 1 against 3; 100 is in neither half
    assert t.slope_per_interval == pytest.approx(1.0)


def test_nulls_are_skipped() -> None:
    values: list[float | None] = [None, 2, None, 4, None, 6]
    assert slope(values) == pytest.approx(1.0)  # over (1, 2), (3, 4), (5, 6)
    t = trend(values)
    assert t.relative_change == pytest.approx((5 - 2) / 2)  # halves [2] and [4, 6]
    assert t.direction == "increasing"


def test_undefined_change() -> None:
    assert trend([]) == trend([None, None])
    t = trend([None, None, 5, 7])  # the first half has no data
    assert (t.relative_change, t.direction) == (None, "flat")
    assert t.slope_per_interval == pytest.approx(2.0)
    t = trend([4])
    assert (t.slope_per_interval, t.relative_change, t.direction) == (None, None, "flat")


def test_rise_from_zero_is_increasing() -> None:
    t = trend([0, 0, 0, 2, 3, 5])
    assert t.relative_change is None  # (b - 0) / 0
    assert t.direction == "increasing"
    assert trend([0, 0, 0, 0]).direction == "flat"


# -- anomalies ------------------------------------------------------------------------------------


def test_spike_on_a_noisy_series() -> None:
    values = [3, 4, 5, 4, 3, 5, 4, 20, 4, 3, 5, 4]
    found, base = anomalies(values)
    assert base == Baseline(median=4.0, mad=1.0, scale=MAD_SCALE)
    assert found == [Anomaly(index=7, value=20, score=pytest.approx(16 / MAD_SCALE))]


def test_drop_is_an_anomaly_too() -> None:
    values = [100, 104, 98, 102, 101, 99, 103, 0, 100]
    found, base = anomalies(values)
    assert base is not None and base.median == 100.0 and base.mad == 2.0  # deviations 0,0,1,1,2,2,3,4,100
    assert found == [Anomaly(index=7, value=0, score=pytest.approx(100 / (MAD_SCALE * 2)))]


def test_threshold_is_inclusive_and_configurable() -> None:
    values = [10, 10, 11, 9, 10, 11, 9, 14]  # median 10, deviations 0,0,0,1,1,1,1,4: MAD 1
    score = 4 / MAD_SCALE  # 2.698
    assert anomalies(values)[0] == []
    assert anomalies(values, threshold=score)[0] == [Anomaly(7, 14, pytest.approx(score))]
    assert anomalies(values, threshold=2.0)[0] == [Anomaly(7, 14, pytest.approx(score))]


def test_mad_zero_falls_back_to_the_mean_deviation() -> None:
    values = [2, 2, 2, 2, 2, 2, 2, 12, 2, 2, 2, 2]
    found, base = anomalies(values)
    scale = MEAN_AD_SCALE * 10 / 12
    assert base == Baseline(median=2.0, mad=0.0, scale=pytest.approx(scale))
    assert found == [Anomaly(index=7, value=12, score=pytest.approx(10 / scale))]


def test_mad_zero_with_a_small_wobble_flags_nothing() -> None:
    # Half the hours are 5: MAD 0, mean deviation 1/2, so the 6s score 1 / 0.627 = 1.6.
    found, base = anomalies([5, 6, 5, 6, 5, 6, 5, 6])
    assert base == Baseline(median=5.0, mad=0.0, scale=pytest.approx(MEAN_AD_SCALE * 0.5))
    assert found == []


def test_flat_series_has_no_anomalies() -> None:
    assert anomalies([7, 7, 7, 7]) == ([], Baseline(median=7.0, mad=0.0, scale=None))
    assert anomalies([0.0] * 24) == ([], Baseline(median=0.0, mad=0.0, scale=None))


def test_nulls_are_not_scored() -> None:
    values: list[float | None] = [None, 3, 4, None, 5, 4, 3, 5, 4, 30, None]
    found, base = anomalies(values)
    assert base == baseline([3, 4, 5, 4, 3, 5, 4, 30])
    assert [a.index for a in found] == [9]
    assert anomalies([None, None]) == ([], None)
    assert anomalies([]) == ([], None)


def test_median_is_the_nearest_rank_p50() -> None:
    base = baseline([1, 2, 3, 4])  # the lower middle, as nearest rank gives it
    assert base is not None and base.median == 2.0
    assert base.mad == 1.0  # deviations 0, 1, 1, 2


# -- bucket ranges --------------------------------------------------------------------------------


def test_buckets_align_to_utc_and_cover_start_to_end() -> None:
    r = bucket_range(10 * H + 5, 13 * H + 1, "1h")
    assert r == BucketRange(10 * H, 14 * H, H)
    assert r.count == 4
    assert list(r.starts()) == [10 * H, 11 * H, 12 * H, 13 * H]


def test_an_end_on_a_boundary_opens_no_bucket() -> None:
    assert bucket_range(10 * H, 13 * H, "1h").count == 3
    assert bucket_range(10 * H, 13 * H + 1, "1h").count == 4
    assert bucket_range(10 * H, 10 * H + 1, "1h").count == 1


def test_days_are_utc_days() -> None:
    day = 86_400 * S
    r = bucket_range(20_000 * day + 13 * H, 20_001 * day + 1, "1d")
    assert list(r.starts()) == [20_000 * day, 20_001 * day]


@pytest.mark.parametrize(("interval", "seconds"), [("1m", 60), ("5m", 300), ("15m", 900), ("6h", 21_600)])
def test_each_interval(interval: str, seconds: int) -> None:
    step = seconds * S
    r = bucket_range(7 * step + 1, 9 * step, interval)
    assert (r.start_us, r.end_us, r.interval_us, r.count) == (7 * step, 9 * step, step, 2)


def test_at_most_ten_thousand_buckets() -> None:
    assert bucket_range(0, 10_000 * 60 * S, "1m").count == 10_000
    with pytest.raises(TimeseriesError, match="that range holds 10001 buckets of 1m; at most 10000"):
        bucket_range(0, 10_000 * 60 * S + 1, "1m")


def test_bad_ranges() -> None:
    with pytest.raises(TimeseriesError, match="unknown interval '1w'"):
        bucket_range(0, H, "1w")
    with pytest.raises(TimeseriesError, match="must be after start"):
        bucket_range(H, H, "1h")
