//! The report's chart, an SVG drawn with plotters' SVG backend: above, offered and accepted
//! events per second with throttled and failed requests per second; below, the p50 and p99
//! latency of the requests scheduled in each second. Text is left to the SVG viewer's fonts
//! (plotters without its font features), so nothing is rasterized.

use plotters::prelude::*;

use crate::report::{Report, Second};

/// The chart's size in pixels.
pub const SIZE: (u32, u32) = (1000, 720);

/// The series names, as the legends show them.
pub const OFFERED: &str = "offered events/s";
pub const ACCEPTED: &str = "accepted events/s";
pub const THROTTLED: &str = "throttled requests/s";
pub const FAILED: &str = "failed requests/s";
pub const P50: &str = "p50 latency (ms)";
pub const P99: &str = "p99 latency (ms)";

/// The chart of `report` as an SVG document.
pub fn svg(report: &Report) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        // Drawing into a string fails only on a bug of ours (a bad range): draw what can be.
        let _ = draw(&root, report);
        let _ = root.present();
    }
    svg
}

fn draw(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    report: &Report,
) -> Result<(), Box<dyn std::error::Error>> {
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(SIZE.1 / 2);
    let seconds = &report.seconds;
    let x_max = (seconds.len() as u64).max(1);
    let series = |f: fn(&Second) -> u64| -> Vec<(u64, f64)> {
        seconds.iter().map(|s| (s.second, f(s) as f64)).collect()
    };
    let offered = series(|s| s.offered_events);
    let accepted = series(|s| s.accepted_events);
    let throttled = series(|s| s.throttled_requests);
    let failed = series(|s| s.failed_requests);
    let caption = format!("{}: {}", report.settings.target, report.settings.schedule);
    panel(
        &top,
        Some(&caption),
        ("seconds", "per second"),
        x_max,
        [
            (OFFERED, offered, BLUE),
            (ACCEPTED, accepted, GREEN),
            (THROTTLED, throttled, MAGENTA),
            (FAILED, failed, RED),
        ],
    )?;

    let latency = |f: fn(&Second) -> u64| -> Vec<(u64, f64)> {
        seconds
            .iter()
            .filter(|s| s.answered_requests > 0)
            .map(|s| (s.second, f(s) as f64 / 1000.0))
            .collect()
    };
    let p50 = latency(|s| s.p50_us);
    let p99 = latency(|s| s.p99_us);
    panel(
        &bottom,
        None,
        ("seconds (latency of the requests scheduled in each)", "ms"),
        x_max,
        [(P50, p50, CYAN), (P99, p99, BLACK)],
    )
}

/// A named line, its points and its colour.
type Series<'n> = (&'n str, Vec<(u64, f64)>, RGBColor);

/// One chart on `area`: axes from 0 to `x_max` and to a tenth above the highest point,
/// described by `desc`; each series a line; the legend.
fn panel<const N: usize>(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    caption: Option<&str>,
    desc: (&str, &str),
    x_max: u64,
    series: [Series<'_>; N],
) -> Result<(), Box<dyn std::error::Error>> {
    let y_max = series
        .iter()
        .flat_map(|(_, points, _)| points.iter().map(|p| p.1))
        .fold(1.0, f64::max)
        * 1.1;
    let mut builder = ChartBuilder::on(area);
    if let Some(caption) = caption {
        builder.caption(caption, ("sans-serif", 18));
    }
    let mut chart = builder
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(64)
        .build_cartesian_2d(0u64..x_max, 0f64..y_max)?;
    chart
        .configure_mesh()
        .x_desc(desc.0)
        .y_desc(desc.1)
        .draw()?;
    for (name, points, color) in series {
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}
