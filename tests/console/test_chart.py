"""The reservoir chart (console/chart.py): a pure function from points and limits to SVG text.
No database here."""

import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from console import chart
from refills.domain.forecast import DoseProgram, ForecastInputs, forecast, volume_at

NS = "{http://www.w3.org/2000/svg}"
T0 = datetime(2026, 10, 21, 15, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=20)
INPUTS = ForecastInputs(
    t0=T0,
    v0_ml=Decimal(20),
    program=DoseProgram(concentration_mcg_per_ml=Decimal(500), daily_dose_mcg=Decimal(250)),  # 0.5 mL a day
    pump_utc_offset_minutes=-300,
    alarm_volume_ml=Decimal(2),
    last_fill_at=T0,
    max_days_in_pump=45,
    zone="America/Chicago",
    reminder_hour=9,
    now=NOW,
)


def points(end_days=44, **kwargs):
    return chart.sample(lambda at: volume_at(INPUTS, at), T0, T0 + timedelta(days=end_days), **kwargs)


def draw(pts=None, **kwargs) -> ET.Element:
    options = {"alarm_ml": Decimal(2), "stability_limit_at": T0 + timedelta(days=45), "now": NOW, **kwargs}
    return ET.fromstring(chart.reservoir_svg(pts or points(end_days=50), zone="America/Chicago", **options))


def polyline(svg) -> list[tuple[float, float]]:
    line = svg.find(f"{NS}polyline[@class='volume']")
    return [tuple(map(float, pair.split(","))) for pair in line.get("points").split()]


def limit(svg, name) -> ET.Element:
    group = svg.find(f"{NS}g[@class='limit limit-{name}']")
    assert group is not None, name
    return group


def y_of(ml: float, y_max: float) -> float:
    return chart.TOP + chart.PLOT_H * (1 - ml / y_max)


def x_of(at: datetime, start: datetime, end: datetime) -> float:
    return chart.LEFT + chart.PLOT_W * (at - start).total_seconds() / (end - start).total_seconds()


def test_the_svg_is_valid_xml_with_a_title_and_a_description():
    svg = draw(title="Pat's pump <& more>", description="A summary for screen readers.")
    assert svg.tag == f"{NS}svg"
    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "reservoir-chart-title reservoir-chart-desc"
    assert svg.find(f"{NS}title").text == "Pat's pump <& more>"
    assert svg.find(f"{NS}desc").text == "A summary for screen readers."
    assert svg.find(f"{NS}title").get("id") == "reservoir-chart-title"


def test_the_volume_line_decreases_from_v0_to_empty_and_stays_at_zero():
    svg = draw()
    line = polyline(svg)
    xs, ys = [x for x, _ in line], [y for _, y in line]
    assert xs == sorted(xs)
    assert ys == sorted(ys)  # SVG y grows downwards: the volume never rises
    assert ys[0] == pytest.approx(y_of(20, 20), abs=0.05)
    assert ys[-1] == pytest.approx(y_of(0, 20), abs=0.05)
    assert xs[0] == chart.LEFT and xs[-1] == chart.LEFT + chart.PLOT_W


def test_the_alarm_and_4_ml_lines_are_horizontal_at_their_volumes_and_labelled_in_words():
    svg = draw()
    for name, ml, words in (("alarm", 2, "Alarm 2 mL"), ("floor", 4, "4 mL: withdrawal risk")):
        group = limit(svg, name)
        line = group.find(f"{NS}line")
        assert line.get("y1") == line.get("y2")
        assert float(line.get("y1")) == pytest.approx(y_of(ml, 20), abs=0.05)
        assert group.find(f"{NS}text").text == words
        assert line.get("stroke-dasharray")  # not told apart by colour alone
    assert limit(svg, "alarm").find(f"{NS}line").get("stroke-dasharray") != limit(svg, "floor").find(f"{NS}line").get(
        "stroke-dasharray"
    )


def test_the_stability_limit_and_now_are_vertical_lines_where_they_belong():
    pts = points(end_days=50)
    svg = draw(pts)
    start, end = pts[0].at, pts[-1].at
    for name, at, words in (("stability", T0 + timedelta(days=45), "Stability limit"), ("now", NOW, "Now")):
        group = limit(svg, name)
        line = group.find(f"{NS}line")
        assert line.get("x1") == line.get("x2")
        assert float(line.get("x1")) == pytest.approx(x_of(at, start, end), abs=0.05)
        assert group.find(f"{NS}text").text == words


def test_a_limit_outside_the_time_span_is_left_out():
    svg = draw(points(end_days=30))
    assert svg.find(f"{NS}g[@class='limit limit-stability']") is None
    assert svg.find(f"{NS}g[@class='limit limit-now']") is not None


def test_the_line_crosses_the_alarm_line_at_the_forecast_alarm_instant():
    result = forecast(INPUTS)
    pts = points(end_days=50, also=[result.low_reservoir_alarm_at])
    crossing = next(p for p in pts if p.at == result.low_reservoir_alarm_at)
    assert crossing.volume_ml == 2
    svg = draw(pts)
    alarm_y = float(limit(svg, "alarm").find(f"{NS}line").get("y1"))
    x = x_of(result.low_reservoir_alarm_at, pts[0].at, pts[-1].at)
    assert any(px == pytest.approx(x, abs=0.05) and py == pytest.approx(alarm_y, abs=0.05) for px, py in polyline(svg))


def test_sample_adds_the_instants_asked_for_and_never_goes_below_zero():
    extra = T0 + timedelta(days=3, hours=7)
    pts = points(end_days=60, count=10, also=[extra, None, T0 - timedelta(days=1)])
    assert len(pts) == 11
    assert extra in [p.at for p in pts]
    assert min(p.volume_ml for p in pts) == 0
    assert [p.at for p in pts] == sorted(p.at for p in pts)


def test_a_raised_alarm_at_4_ml_keeps_both_labels_readable():
    svg = draw(alarm_ml=Decimal(4))
    alarm_text = float(limit(svg, "alarm").find(f"{NS}text").get("y"))
    floor_text = float(limit(svg, "floor").find(f"{NS}text").get("y"))
    assert abs(alarm_text - floor_text) >= 16


def test_the_time_axis_has_day_labels_in_the_patients_zone():
    svg = chart.reservoir_svg(points(end_days=50), alarm_ml=2, zone="America/Chicago")
    labels = re.findall(r">(\d{1,2} [A-Z][a-z]{2})<", svg)
    assert 3 <= len(labels) <= chart.MAX_X_TICKS
    assert labels[0] == "22 Oct"  # the first local midnight after 10:00 on 21 October


def test_a_flat_program_draws_a_flat_line():
    still = replace(INPUTS, program=DoseProgram(concentration_mcg_per_ml=Decimal(500), daily_dose_mcg=Decimal(0)))
    pts = chart.sample(lambda at: volume_at(still, at), T0, T0 + timedelta(days=10))
    ys = {y for _, y in polyline(ET.fromstring(chart.reservoir_svg(pts, alarm_ml=2)))}
    assert len(ys) == 1


def test_no_points_is_an_error():
    with pytest.raises(ValueError):
        chart.reservoir_svg([], alarm_ml=2)
