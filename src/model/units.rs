//! Human-readable numbers for the text report (decimal prefixes throughout,
//! so bytes line up with GPU memory as vendors publish it).

/// `value` with a decimal prefix and `unit`: `470.19 GB`, `353.2 TFLOP`.
pub(crate) fn si(value: f64, unit: &str) -> String {
    const PREFIXES: [(f64, &str); 6] = [
        (1e18, "E"),
        (1e15, "P"),
        (1e12, "T"),
        (1e9, "G"),
        (1e6, "M"),
        (1e3, "K"),
    ];
    let (scale, prefix) = PREFIXES
        .iter()
        .find(|(s, _)| value.abs() >= *s)
        .copied()
        .unwrap_or((1.0, ""));
    format!("{:.2} {prefix}{unit}", value / scale)
}

/// A parameter count: `235.09 B`, `8.03 B`, `512.00 M`.
pub(crate) fn count(value: u64) -> String {
    const SCALES: [(f64, &str); 4] = [(1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")];
    let v = value as f64;
    match SCALES.iter().find(|(s, _)| v >= *s) {
        Some((s, name)) => format!("{:.2} {name}", v / s),
        None => value.to_string(),
    }
}

/// A duration: `1.23 s`, `44.60 ms`, `512.00 us`.
pub(crate) fn seconds(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{:.2} us", s * 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(si(470.19e9, "B"), "470.19 GB");
        assert_eq!(si(12.0, "B"), "12.00 B");
        assert_eq!(count(8_030_261_248), "8.03 B");
        assert_eq!(count(999), "999");
        assert_eq!(seconds(0.0446), "44.60 ms");
        assert_eq!(seconds(2.5e-4), "250.00 us");
        assert_eq!(seconds(3.0), "3.00 s");
    }
}
