//! Points in time: whole seconds since the Unix epoch, the one time type of the pass.

use std::fmt;
use std::ops::{Add, Sub};

/// A point in time in whole seconds since the Unix epoch (UTC): the time of a pass, a file's
/// mtime, a host's check-in. File formats that store fractions (Nova's `compute_nodes`, `.info`
/// sidecars) are converted at their edge with [`UnixTime::from_f64_ceil`] and
/// [`UnixTime::as_f64`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(pub i64);

impl UnixTime {
    /// Whole seconds from `earlier` to this time; 0 if `earlier` is later (a clock skewed, an
    /// mtime in the future).
    pub fn seconds_since(self, earlier: UnixTime) -> u64 {
        u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0)
    }

    /// The first whole second at or after `secs` (a check-in at 1000.5 is "after 1000"), or
    /// `None` for a value that is not a finite time.
    pub fn from_f64_ceil(secs: f64) -> Option<Self> {
        // `as` saturates at the ends of i64, which are not times anyone writes.
        secs.is_finite().then(|| Self(secs.ceil() as i64))
    }

    /// As a float, the way Nova writes times.
    pub fn as_f64(self) -> f64 {
        self.0 as f64
    }
}

impl Add<i64> for UnixTime {
    type Output = UnixTime;

    fn add(self, secs: i64) -> UnixTime {
        UnixTime(self.0.saturating_add(secs))
    }
}

impl Sub<i64> for UnixTime {
    type Output = UnixTime;

    fn sub(self, secs: i64) -> UnixTime {
        UnixTime(self.0.saturating_sub(secs))
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_never_go_negative_and_fractions_round_up() {
        assert_eq!(UnixTime(100).seconds_since(UnixTime(40)), 60);
        assert_eq!(UnixTime(40).seconds_since(UnixTime(100)), 0);
        assert_eq!(UnixTime::from_f64_ceil(1000.5), Some(UnixTime(1001)));
        assert_eq!(UnixTime::from_f64_ceil(1000.0), Some(UnixTime(1000)));
        assert_eq!(UnixTime::from_f64_ceil(f64::NAN), None);
        assert_eq!(UnixTime(i64::MAX) + 1, UnixTime(i64::MAX));
        assert_eq!((UnixTime(10) - 3).as_f64(), 7.0);
    }
}
