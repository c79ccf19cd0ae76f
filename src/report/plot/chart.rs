//! A chart as plain data ([`Chart`]) and its drawing with plotters, the same
//! code for the SVG and the bitmap backend.
//!
//! Layout: the title on top, the plotting area with its axes and their
//! labels, the legend in a column on the right (one line per series, with
//! its colour and marker), and a caption line at the bottom with the
//! command that made the chart. The SVG also gets `<title>`, `<desc>` (the
//! command) and a `<metadata>` element holding a JSON summary: kind,
//! command, axes, and per series its name, colour, marker and point count
//! (what tests and the dashboard read back).

use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::error::PlotError;

/// DejaVu Sans (Debian's fonts-dejavu-core; licence beside it), so text is
/// measured and drawn the same on every machine, no system font needed.
static FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
/// The family every text style names; also what the SVG's text asks for.
pub const FAMILY: &str = "sans-serif";

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The embedded file is a valid TrueType font: a failure here is a
        // broken build, which the tests catch.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// How a series' points are marked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerShape {
    Circle,
    Triangle,
}

impl MarkerShape {
    fn word(self) -> &'static str {
        match self {
            MarkerShape::Circle => "circle",
            MarkerShape::Triangle => "triangle",
        }
    }
}

/// One line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartSeries {
    pub name: String,
    /// (x, y) in data units, sorted by x.
    pub points: Vec<(f64, f64)>,
    /// (x, low, high): a band drawn under the line (trend: min–max of the
    /// repeats). Empty: none.
    pub band: Vec<(f64, f64, f64)>,
    pub shape: MarkerShape,
}

/// A point marked on top of the series (trend: an open regression).
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub x: f64,
    pub y: f64,
    pub label: String,
}

/// Everything a chart shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// File stem.
    pub name: String,
    /// `latency`, `serving`, `pareto`, `trend`.
    pub kind: String,
    pub title: String,
    /// Axis labels, with units.
    pub x_label: String,
    pub y_label: String,
    /// The x axis in powers of two (batch sizes, request rates).
    pub x_log2: bool,
    /// Categorical x axis: x = index into these labels (trend: run dates).
    pub x_ticks: Option<Vec<String>>,
    pub series: Vec<ChartSeries>,
    /// The Pareto frontier (a dashed black line), empty when none.
    pub frontier: Vec<(f64, f64)>,
    /// Marks drawn over the series (red crosses), named once in the legend.
    pub marks: Vec<Marker>,
    pub marks_label: String,
    /// The command that made it.
    pub command: String,
}

/// tab10: distinct, colour-blind-friendlier than the primaries.
const PALETTE: [(u8, u8, u8); 10] = [
    (0x1F, 0x77, 0xB4),
    (0xFF, 0x7F, 0x0E),
    (0x2C, 0xA0, 0x2C),
    (0xD6, 0x27, 0x28),
    (0x94, 0x67, 0xBD),
    (0x8C, 0x56, 0x4B),
    (0xE3, 0x77, 0xC2),
    (0x7F, 0x7F, 0x7F),
    (0xBC, 0xBD, 0x22),
    (0x17, 0xBE, 0xCF),
];

/// The colour of series `i` (the palette repeats after 10).
pub fn color(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

/// `#RRGGBB` as plotters' SVG backend writes it.
pub fn color_hex(i: usize) -> String {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    format!("#{r:02X}{g:02X}{b:02X}")
}

/// A number as a tick or legend shows it: integers plainly, else 3
/// significant digits.
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if (v - v.round()).abs() < 1e-9 && v.abs() < 1e12 {
        return format!("{}", v.round() as i64);
    }
    let a = v.abs();
    let decimals = if a >= 100.0 {
        0
    } else if a >= 10.0 {
        1
    } else if a >= 1.0 {
        2
    } else {
        3
    };
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Cut a label to `max` characters (an ellipsis marks the cut).
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

const LEGEND_W: u32 = 320;
const CAPTION_H: u32 = 24;

impl Chart {
    fn tx(&self, x: f64) -> f64 {
        if self.x_log2 { x.log2() } else { x }
    }

    /// The data ranges (x transformed), padded.
    fn ranges(&self) -> (std::ops::Range<f64>, std::ops::Range<f64>) {
        let mut xs: Vec<f64> = Vec::new();
        let mut ys: Vec<f64> = Vec::new();
        for s in &self.series {
            xs.extend(s.points.iter().map(|p| self.tx(p.0)));
            ys.extend(s.points.iter().map(|p| p.1));
            ys.extend(s.band.iter().flat_map(|b| [b.1, b.2]));
        }
        ys.extend(self.marks.iter().map(|m| m.y));
        let (xlo, xhi) = match &self.x_ticks {
            Some(t) => (-0.5, t.len().max(1) as f64 - 0.5),
            None => {
                let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                if !lo.is_finite() {
                    (0.0, 1.0)
                } else if hi - lo < 1e-12 {
                    (lo - 1.0, hi + 1.0)
                } else {
                    let pad = (hi - lo) * 0.05;
                    (lo - pad, hi + pad)
                }
            }
        };
        let ymin = ys.iter().copied().fold(f64::INFINITY, f64::min);
        let ymax = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let (ylo, yhi) = if !ymin.is_finite() {
            (0.0, 1.0)
        } else {
            let lo = ymin.min(0.0);
            let hi = if ymax > lo { ymax } else { lo + 1.0 };
            (lo, hi + (hi - lo) * 0.08)
        };
        (xlo..xhi, ylo..yhi)
    }

    /// The JSON of `<metadata>`.
    fn metadata(&self) -> serde_json::Value {
        serde_json::json!({
            "generator": "matrix plot",
            "kind": self.kind,
            "title": self.title,
            "command": self.command,
            "x": self.x_label,
            "y": self.y_label,
            "series": self.series.iter().enumerate().map(|(i, s)| serde_json::json!({
                "name": s.name,
                "color": color_hex(i),
                "marker": s.shape.word(),
                "points": s.points.len(),
                "values": s.points.iter().map(|p| [p.0, p.1]).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "x_ticks": self.x_ticks,
            "frontier": self.frontier.iter().map(|p| [p.0, p.1]).collect::<Vec<_>>(),
            "marks": self.marks.iter().map(|m| serde_json::json!({
                "label": m.label, "x": m.x, "y": m.y,
            })).collect::<Vec<_>>(),
        })
    }

    /// The chart as an SVG document.
    pub fn svg(&self, width: u32, height: u32) -> Result<String, PlotError> {
        register_font();
        let mut text = String::new();
        {
            let root = SVGBackend::with_string(&mut text, (width, height)).into_drawing_area();
            self.draw_on(&root)
                .map_err(|reason| self.draw_error(reason))?;
            root.present().map_err(|e| self.draw_error(e.to_string()))?;
        }
        // Title, command and summary right after the opening <svg> tag.
        let head = format!(
            "<title>{}</title>\n<desc>{}</desc>\n<metadata>{}</metadata>\n",
            xml_escape(&self.title),
            xml_escape(&format!("made by: {}", self.command)),
            xml_escape(&self.metadata().to_string()),
        );
        let at = text
            .find("<svg")
            .and_then(|i| text[i..].find('>').map(|j| i + j + 1))
            .ok_or_else(|| self.draw_error("plotters wrote no <svg> tag".into()))?;
        let at = if text[at..].starts_with('\n') {
            at + 1
        } else {
            at
        };
        text.insert_str(at, &head);
        Ok(text)
    }

    /// The chart as a PNG file.
    pub fn png(&self, width: u32, height: u32) -> Result<Vec<u8>, PlotError> {
        register_font();
        let mut buf = vec![0u8; width as usize * height as usize * 3];
        {
            let root = BitMapBackend::with_buffer(&mut buf, (width, height)).into_drawing_area();
            self.draw_on(&root)
                .map_err(|reason| self.draw_error(reason))?;
            root.present().map_err(|e| self.draw_error(e.to_string()))?;
        }
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, width, height);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            // The title and the command as text chunks too (UTF-8: paths).
            for (k, v) in [
                ("Title", self.title.clone()),
                ("Description", format!("made by: {}", self.command)),
            ] {
                enc.add_itxt_chunk(k.into(), v)
                    .map_err(|e| self.draw_error(e.to_string()))?;
            }
            let mut w = enc
                .write_header()
                .map_err(|e| self.draw_error(e.to_string()))?;
            w.write_image_data(&buf)
                .map_err(|e| self.draw_error(e.to_string()))?;
        }
        Ok(out)
    }

    fn draw_error(&self, reason: String) -> PlotError {
        PlotError::Draw {
            name: self.name.clone(),
            reason,
        }
    }

    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(e)?;
        let (w, h) = root.dim_in_pixel();
        let body = root
            .titled(&self.title, (FAMILY, 20).into_font())
            .map_err(e)?;
        let (_, body_h) = body.dim_in_pixel();
        let (main, caption) = body.split_vertically(body_h.saturating_sub(CAPTION_H));
        let legend_w = LEGEND_W.min(w / 3);
        let (plot, legend) = main.split_horizontally(w.saturating_sub(legend_w));

        let (xr, yr) = self.ranges();
        let mut chart = ChartBuilder::on(&plot)
            .margin(10)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(xr, yr)
            .map_err(e)?;
        let log2 = self.x_log2;
        let ticks = self.x_ticks.clone();
        let x_fmt = move |v: &f64| -> String {
            if let Some(t) = &ticks {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < t.len() {
                    return t[i as usize].clone();
                }
                return String::new();
            }
            if log2 {
                // Powers of two only: 2^0.5 = 1.41 is no batch size.
                if (v - v.round()).abs() > 1e-6 {
                    return String::new();
                }
                fmt_num(2f64.powf(v.round()))
            } else {
                fmt_num(*v)
            }
        };
        let y_fmt = |v: &f64| fmt_num(*v);
        // Categorical ticks: as many as fit their longest label.
        let n_ticks = self.x_ticks.as_ref().map_or(10, |t| {
            let (pw, _) = plot.dim_in_pixel();
            let longest = t
                .iter()
                .map(|l| l.chars().count())
                .max()
                .unwrap_or(1)
                .max(1);
            let fit = (pw as usize / (longest * 8 + 12)).max(2);
            t.len().clamp(1, fit)
        });
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .x_labels(n_ticks)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .label_style((FAMILY, 13).into_font())
            .axis_desc_style((FAMILY, 15).into_font())
            .light_line_style(RGBColor(0xEE, 0xEE, 0xEE))
            .bold_line_style(RGBColor(0xDD, 0xDD, 0xDD))
            .draw()
            .map_err(e)?;

        for (i, s) in self.series.iter().enumerate() {
            let c = color(i);
            let pts: Vec<(f64, f64)> = s.points.iter().map(|p| (self.tx(p.0), p.1)).collect();
            if !s.band.is_empty() {
                let mut poly: Vec<(f64, f64)> =
                    s.band.iter().map(|b| (self.tx(b.0), b.2)).collect();
                poly.extend(s.band.iter().rev().map(|b| (self.tx(b.0), b.1)));
                chart
                    .draw_series(std::iter::once(Polygon::new(poly, c.mix(0.18).filled())))
                    .map_err(e)?;
            }
            if pts.len() > 1 {
                chart
                    .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
                    .map_err(e)?;
            }
            match s.shape {
                MarkerShape::Circle => chart
                    .draw_series(pts.iter().map(|p| Circle::new(*p, 4, c.filled())))
                    .map_err(e)?,
                MarkerShape::Triangle => chart
                    .draw_series(pts.iter().map(|p| TriangleMarker::new(*p, 6, c.filled())))
                    .map_err(e)?,
            };
        }
        if !self.frontier.is_empty() {
            let pts: Vec<(f64, f64)> = self.frontier.iter().map(|p| (self.tx(p.0), p.1)).collect();
            chart
                .draw_series(DashedLineSeries::new(pts, 8, 5, BLACK.stroke_width(2)))
                .map_err(e)?;
        }
        for m in &self.marks {
            let p = (self.tx(m.x), m.y);
            chart
                .draw_series(std::iter::once(Cross::new(p, 8, RED.stroke_width(3))))
                .map_err(e)?;
        }

        // Legend: one row per series, then the frontier and the marks.
        let font = (FAMILY, 12).into_font();
        let row = 20i32;
        let (_, lh) = legend.dim_in_pixel();
        let fit = ((lh as i32 - 20) / row).max(1) as usize;
        let mut entries: Vec<(String, Option<usize>)> = self
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), Some(i)))
            .collect();
        if !self.frontier.is_empty() {
            entries.push(("Pareto frontier".into(), None));
        }
        if !self.marks.is_empty() {
            entries.push((self.marks_label.clone(), None));
        }
        let total = entries.len();
        if total > fit {
            entries.truncate(fit - 1);
            entries.push((format!("… {} more", total - (fit - 1)), None));
        }
        for (n, (name, idx)) in entries.iter().enumerate() {
            let y = 20 + n as i32 * row;
            let swatch: ShapeStyle = match idx {
                Some(i) => color(*i).stroke_width(2),
                None if name == "Pareto frontier" => BLACK.stroke_width(2),
                None if name.starts_with('…') => WHITE.stroke_width(0),
                None => RED.stroke_width(3),
            };
            legend
                .draw(&PathElement::new(vec![(8, y), (30, y)], swatch))
                .map_err(e)?;
            legend
                .draw(&Text::new(cut(name, 48), (36, y - 7), font.clone()))
                .map_err(e)?;
        }

        let cap = format!("made by: {}", self.command);
        let max_chars = (w as usize / 7).max(20);
        caption
            .draw(&Text::new(
                cut(&cap, max_chars),
                (10, 4),
                (FAMILY, 11).into_font().color(&RGBColor(0x55, 0x55, 0x55)),
            ))
            .map_err(e)?;
        let _ = h;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_short() {
        assert_eq!(fmt_num(256.0), "256");
        assert_eq!(fmt_num(0.0125), "0.013");
        assert_eq!(fmt_num(12.34), "12.3");
        assert_eq!(fmt_num(1.5), "1.5");
    }

    #[test]
    fn svg_carries_title_desc_and_metadata_after_the_svg_tag() {
        let chart = Chart {
            name: "t".into(),
            kind: "latency".into(),
            title: "A & B".into(),
            x_label: "x (s)".into(),
            y_label: "y (s)".into(),
            x_log2: false,
            x_ticks: None,
            series: vec![ChartSeries {
                name: "one".into(),
                points: vec![(1.0, 2.0), (2.0, 3.0)],
                band: Vec::new(),
                shape: MarkerShape::Circle,
            }],
            frontier: Vec::new(),
            marks: Vec::new(),
            marks_label: String::new(),
            command: "matrix plot x <y>".into(),
        };
        let svg = chart.svg(640, 400).unwrap();
        let head: Vec<&str> = svg.lines().take(4).collect();
        assert!(head[0].starts_with("<svg "), "{head:?}");
        assert_eq!(head[1], "<title>A &amp; B</title>");
        assert_eq!(head[2], "<desc>made by: matrix plot x &lt;y&gt;</desc>");
        assert!(head[3].starts_with("<metadata>{"), "{head:?}");
        let circles = svg.lines().filter(|l| l.starts_with("<circle ")).count();
        assert_eq!(circles, 2);
    }
}
