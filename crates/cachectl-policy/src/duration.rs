//! Durations and sizes for people: `45s`, `12m`, `3h 5m`, `2d 4h`; `1023 B`, `1.5 GiB`.

use std::fmt;

/// A number of bytes shown as qemu-img shows sizes: `1023 B`, `1.5 GiB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanBytes(pub u64);

impl fmt::Display for HumanBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        let mut value = self.0 as f64;
        let mut unit = 0;
        while value >= 1024.0 && unit + 1 < UNITS.len() {
            value /= 1024.0;
            unit += 1;
        }
        if unit == 0 {
            write!(f, "{} B", self.0)
        } else {
            write!(f, "{value:.1} {}", UNITS[unit])
        }
    }
}

/// A number of seconds shown the way the reports show ages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub u64);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        // The two largest units, the second left out when it is zero: 45s, 12m, 3h 5m, 1h, 2d 4h, 1d.
        let (big, big_unit, small, small_unit) = match s {
            0..60 => return write!(f, "{s}s"),
            60..3_600 => return write!(f, "{}m", s / 60),
            3_600..86_400 => (s / 3_600, "h", s % 3_600 / 60, "m"),
            _ => (s / 86_400, "d", s % 86_400 / 3_600, "h"),
        };
        if small == 0 {
            write!(f, "{big}{big_unit}")
        } else {
            write!(f, "{big}{big_unit} {small}{small_unit}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::HumanDuration;

    #[test]
    fn units() {
        let shown: Vec<String> = [0, 59, 60, 3_599, 3_600, 3_661, 86_399, 86_400, 90_000]
            .map(|s| HumanDuration(s).to_string())
            .into();
        assert_eq!(
            shown,
            [
                "0s", "59s", "1m", "59m", "1h", "1h 1m", "23h 59m", "1d", "1d 1h"
            ]
        );
    }
}
