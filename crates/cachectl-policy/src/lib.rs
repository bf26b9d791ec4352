//! The decision engine of cachectl: facts about a compute host in, a plan for every cache file out.
//!
//! [`plan`] is a pure function. Its [`Facts`] are what the command gathered from disk and from the
//! operator: the entries of the cache directory (name, type, size, mtime), the instance records
//! from an inventory, which cache files the disks under the instances path reference, the hosts
//! that share the storage, the configured ages and the time. Its [`Plan`] says, for every entry, a
//! [`State`] and the [`Reason`]s behind it, plus [`Warning`]s and the orphan directories. Nothing
//! here reads a file, a clock or the environment, so every rule is tested with plain values.
//!
//! The rules are Nova's image cache manager's (see `docs/architecture.md`), with these
//! differences: every disk under the instances path counts, not only `<instance>/disk`; a
//! declared disk that cannot be read keeps everything (until an operator acknowledges it); cache
//! files kept for any reason keep what they are
//! backed by; `<fp>_1`…`<fp>_9`, stale downloads and orphan sidecars are cleaned too.
//!
//! ```
//! use cachectl_policy::{plan, Ages, CacheFile, Facts, FileType, State, UnixTime};
//!
//! let facts = Facts {
//!     files: vec![CacheFile::regular("356a192b7913b04c54574d18c28d46e6395428ab", 1 << 30, UnixTime(0))],
//!     now: UnixTime(2 * 86_400),
//!     ..Facts::new("compute-1")
//! };
//! let plan = plan(&facts);
//! assert_eq!(plan.files[0].state, State::Remove);
//! assert_eq!(plan.files[0].reasons[0].to_string(), "unused for 2d (originals are kept 1d)");
//! ```

#![forbid(unsafe_code)]

mod decide;
mod duration;
mod facts;
mod outcome;
mod plan;
mod space;
mod storage;
#[cfg(test)]
mod tests;
mod time;
mod usage;

pub use decide::plan;
pub use duration::{HumanBytes, HumanDuration};
pub use facts::{
    Acknowledged, Ages, CacheFile, Disk, DiskUse, EphemeralConfig, Facts, FileIdentity, FileType,
    Instance, ReadAs, StorageUsers, UnreadableFile, UseKind, cache_bytes,
};
pub use outcome::{
    FileOutcome, FileState, LockState, Note, Recheck, confirm_removal, stale_lock_files,
};
pub use plan::{DoubtOutcome, FileDecision, Names, OrphanDir, Plan, Reason, State, Users, Warning};
pub use space::{
    Candidate, RemovalCap, SPACE_MIN_AGE, SpaceFacts, SpaceTarget, make_room, within_cap,
};
pub use storage::{STORAGE_USER_WINDOW, storage_users};
pub use time::UnixTime;
pub use usage::{ImageUsage, files_for_fingerprint, image_usage};
