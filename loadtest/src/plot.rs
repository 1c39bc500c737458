//! Latency plots: the percentile spectrum of one or more distributions, as SVG.

use crate::latency::Summary;
use plotters::prelude::*;
use std::path::Path;

/// Quantile q drawn at "nines" -log10(1 - q); the maximum (q = 1) is drawn here.
const MAX_AT: f64 = 4.5;

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn nines(q: f64) -> f64 {
    if q >= 1.0 {
        MAX_AT
    } else {
        (-(1.0 - q).log10()).min(MAX_AT - 0.25)
    }
}

fn tick(x: &f64) -> String {
    match x.round() as i64 {
        _ if (x - MAX_AT).abs() < 0.01 => "max".into(),
        0 => "p0".into(),
        1 => "p90".into(),
        2 => "p99".into(),
        3 => "p99.9".into(),
        4 => "p99.99".into(),
        _ => String::new(),
    }
}

/// Writes one chart of `series` (label, distribution) to `path`.
pub fn spectrum(path: &Path, title: &str, series: &[(String, &Summary)]) -> crate::Result<()> {
    let err = |e: &dyn std::fmt::Debug| format!("cannot draw {}: {e:?}", path.display());
    let top = series.iter().map(|(_, s)| s.max_ms).fold(1.0_f64, f64::max) * 1.1;
    let root = SVGBackend::new(path, (900, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..MAX_AT, 0.0..top)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .x_labels(10)
        .x_label_formatter(&tick)
        .draw()
        .map_err(|e| err(&e))?;
    for (i, (label, summary)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<(f64, f64)> = summary
            .spectrum
            .iter()
            .map(|&(q, ms)| (nines(q), ms))
            .collect();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
