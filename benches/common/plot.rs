//! Latency against load, drawn as a PNG with plotters (pure Rust; text is
//! set in DejaVu Sans from the system's fonts, Debian's `fonts-dejavu-core`).

use plotters::prelude::*;
pub use plotters::prelude::{BLUE, RED};
use plotters::style::{register_font, FontStyle};
use std::path::Path;

/// Where the font is looked for.
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// One line on the plot.
pub struct Series {
    /// Its name in the legend.
    pub name: String,
    /// (load, latency in ms), in order of load.
    pub points: Vec<(f64, f64)>,
    /// Its colour.
    pub color: RGBColor,
    /// Drawn dashed-looking (thin, with hollow points) when true.
    pub thin: bool,
}

/// Draws `series` against `x_label` with a logarithmic latency axis and a
/// horizontal line at `target_ms`; an error says why nothing was drawn.
pub fn draw(
    path: &Path,
    title: &str,
    x_label: &str,
    series: &[Series],
    target_ms: f64,
) -> Result<(), String> {
    let font = std::fs::read(FONT).map_err(|e| format!("no font at {FONT}: {e}"))?;
    register_font(
        "sans-serif",
        FontStyle::Normal,
        Box::leak(font.into_boxed_slice()),
    )
    .map_err(|_| format!("{FONT} is not a usable font"))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let points = series.iter().flat_map(|s| s.points.iter());
    let (mut x_max, mut y_min, mut y_max) = (1.0f64, target_ms, target_ms);
    for &(x, y) in points.filter(|(_, y)| y.is_finite() && *y > 0.0) {
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    let root = BitMapBackend::new(path, (960, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..x_max * 1.05, (y_min * 0.8..y_max * 1.25).log_scale())
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc("latency, ms (log scale)")
        .x_label_formatter(&|x| format!("{:.0}k", x / 1000.0))
        .y_label_formatter(&|y| format!("{y:.1}"))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(LineSeries::new(
            [(0.0, target_ms), (x_max * 1.05, target_ms)],
            GREEN.mix(0.8).stroke_width(2),
        ))
        .map_err(|e| e.to_string())?
        .label(format!("target {target_ms} ms"))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], GREEN.mix(0.8).stroke_width(2)));
    for s in series {
        let color = s.color;
        let width = if s.thin { 1 } else { 3 };
        let valid: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|(_, y)| y.is_finite() && *y > 0.0)
            .collect();
        chart
            .draw_series(LineSeries::new(valid.clone(), color.stroke_width(width)))
            .map_err(|e| e.to_string())?
            .label(s.name.clone())
            .legend(move |(x, y)| {
                PathElement::new([(x, y), (x + 20, y)], color.stroke_width(width))
            });
        let filled = !s.thin;
        chart
            .draw_series(valid.into_iter().map(move |p| {
                let style = if filled {
                    color.filled()
                } else {
                    color.stroke_width(1)
                };
                Circle::new(p, 4, style)
            }))
            .map_err(|e| e.to_string())?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}
