//! The time of the run: the clock, or `CACHECTL_NOW` where tests (or a reproduction of a
//! report) pin it.

use cachectl_naming::quote;
use cachectl_policy::UnixTime;

use crate::error::CommandError;
use crate::exit::ExitCode;

/// The time of the run. `CACHECTL_NOW` (unix seconds) pins it; a value that is not a number of
/// seconds is a usage error, not ignored.
pub(crate) fn now() -> Result<UnixTime, CommandError> {
    if let Some(pinned) = std::env::var_os("CACHECTL_NOW") {
        return pinned
            .to_str()
            .and_then(|text| text.trim().parse().ok())
            .map(UnixTime)
            .ok_or_else(|| {
                CommandError::new(
                    ExitCode::Usage,
                    format!(
                        "CACHECTL_NOW={} is not a time: expected unix seconds, like 1800000000",
                        quote(&pinned)
                    ),
                )
            });
    }
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    Ok(UnixTime(secs))
}
