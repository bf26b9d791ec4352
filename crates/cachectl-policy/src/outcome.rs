//! After the plan: what becomes of each entry as the pass carries the plan out.
//!
//! An entry's outcome is a pipeline of two types: the plan's [`FileDecision`] (a [`State`] and
//! its reasons), then a [`FileOutcome`], the decision with the entry's final [`FileState`] and
//! the [`Note`]s the pass adds. The rules that turn one into the other are here, pure: which
//! planned removals a `clean` confirms under Nova's locks ([`confirm_removal`]), what a read-only
//! pass says a `clean` would keep ([`FileOutcome::keep_for_lock`]), and which files are hashed
//! ([`FileOutcome::is_hashed`]). The command only gathers what they decide from (lock states, a
//! second scan) and carries out what they say.

use std::fmt;

use cachectl_naming::{EntryKind, classify, quote};

use crate::facts::FileType;
use crate::plan::{FileDecision, Reason, State};

/// What became of a cache entry, as reports name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileState {
    /// Something uses it (or may): kept, and in `clean` its mtime refreshed.
    InUse,
    /// Unused, but not long enough: kept.
    TooYoung,
    /// Would be removed (`audit`, `clean --dry-run`).
    Removable,
    /// Removed by this `clean`.
    Removed,
    /// `clean` tried and failed to remove it.
    RemoveFailed,
    /// Not the cache's: left alone.
    Ignored,
    /// Unused, but its image is pinned (`--keep`): kept.
    Pinned,
    /// Removable, left for the next run: the run's `--max-remove` was reached.
    Deferred,
}

impl FileState {
    /// Every state (for series that must exist when zero).
    pub const ALL: [Self; 8] = [
        Self::InUse,
        Self::Pinned,
        Self::TooYoung,
        Self::Removable,
        Self::Removed,
        Self::RemoveFailed,
        Self::Ignored,
        Self::Deferred,
    ];

    /// What the plan's state means before anything is carried out.
    pub fn planned(state: State) -> Self {
        match state {
            State::InUse => Self::InUse,
            State::TooYoung => Self::TooYoung,
            State::Remove => Self::Removable,
            State::Ignore => Self::Ignored,
            State::Pinned => Self::Pinned,
            State::Deferred => Self::Deferred,
        }
    }

    /// What an entry that changed during the pass is kept as, from its state in the new plan: a
    /// file the new plan would remove is kept this pass anyway, as too young to be sure of.
    pub fn kept_after_change(state: State) -> Self {
        match state {
            State::InUse => Self::InUse,
            State::Ignore => Self::Ignored,
            State::Pinned => Self::Pinned,
            State::Deferred => Self::Deferred,
            State::TooYoung | State::Remove => Self::TooYoung,
        }
    }

    /// The snake_case name reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InUse => "in_use",
            Self::TooYoung => "too_young",
            Self::Pinned => "pinned",
            Self::Deferred => "deferred",
            Self::Removable => "removable",
            Self::Removed => "removed",
            Self::RemoveFailed => "remove_failed",
            Self::Ignored => "ignored",
        }
    }
}

impl fmt::Display for FileState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the Nova lock of an entry could be had when the pass wanted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockState {
    /// Taken by this pass (or, for a read-only pass, free).
    Free,
    /// Another process holds it.
    Held {
        /// The lock file, as reports show it.
        lock: String,
    },
    /// The lock file cannot be used (a symlink, a FIFO... planted there).
    Unusable {
        /// The lock file.
        lock: String,
        /// Why.
        problem: String,
    },
}

/// What the pass itself says of an entry, shown before the plan's reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// Its lock was not to be had: kept (`clean`), or would be (`audit`, `--dry-run`).
    LockNotTaken {
        /// The lock file.
        lock: String,
        /// Why it could not be used, if not because another process holds it.
        problem: Option<String>,
        /// Whether the pass only says what a `clean` would do.
        dry_run: bool,
    },
    /// A sidecar whose image was planned for removal but stayed.
    ImageNotRemoved,
    /// It went between the plan and its removal.
    AlreadyGone,
    /// It changed (or its uses did) between the plan and its removal.
    Changed,
    /// Removing it failed; the message says why.
    RemoveFailed(String),
}

impl LockState {
    /// The note for an entry kept because of this lock state; `None` if the lock was free.
    fn note(&self, dry_run: bool) -> Option<Note> {
        let (lock, problem) = match self {
            Self::Free => return None,
            Self::Held { lock } => (lock, None),
            Self::Unusable { lock, problem } => (lock, Some(problem.clone())),
        };
        Some(Note::LockNotTaken {
            lock: lock.clone(),
            problem,
            dry_run,
        })
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LockNotTaken {
                lock,
                problem,
                dry_run,
            } => {
                let then = if *dry_run {
                    "a clean now would keep it"
                } else {
                    "kept this pass"
                };
                match problem {
                    None => write!(f, "another process holds its lock {}: {then}", quote(lock)),
                    Some(problem) => write!(
                        f,
                        "its lock {} cannot be taken ({problem}): {then}",
                        quote(lock)
                    ),
                }
            }
            Self::ImageNotRemoved => f.write_str("kept: its image was not removed"),
            Self::AlreadyGone => f.write_str("already gone: another process removed it"),
            Self::Changed => f.write_str("changed during the pass: kept"),
            Self::RemoveFailed(message) => f.write_str(message),
        }
    }
}

/// What became of a cache entry: the plan's decision (replaced by the new plan's where the
/// entry changed), its final state, and what the pass adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOutcome {
    /// The decision behind it.
    pub decision: FileDecision,
    /// Its final state.
    pub state: FileState,
    /// What the pass adds to the decision's reasons, shown first.
    pub notes: Vec<Note>,
}

impl FileOutcome {
    /// The outcome the plan gives, before anything is carried out.
    pub fn planned(decision: FileDecision) -> Self {
        Self {
            state: FileState::planned(decision.state),
            decision,
            notes: Vec::new(),
        }
    }

    /// A read-only pass: an entry it would remove, whose lock is not to be had now, is one a
    /// `clean` now would keep.
    pub fn keep_for_lock(&mut self, lock: &LockState) {
        if self.state == FileState::Removable
            && let Some(note) = lock.note(true)
        {
            self.state = FileState::InUse;
            self.notes.push(note);
        }
    }

    /// Whether the pass hashes the file to check it against its sidecar: only images that
    /// stay (a checksum of a file being removed helps nobody), and only regular files.
    pub fn is_hashed(&self, file_type: FileType) -> bool {
        self.decision.kind.is_image()
            && matches!(
                self.state,
                FileState::InUse | FileState::TooYoung | FileState::Pinned | FileState::Deferred
            )
            && file_type == FileType::Regular
    }

    /// The outcome of a removal [`confirm_removal`] allowed.
    pub fn removed(&mut self, failed: Option<String>) {
        match failed {
            None => self.state = FileState::Removed,
            Some(message) => {
                self.state = FileState::RemoveFailed;
                self.notes.push(Note::RemoveFailed(message));
            }
        }
    }
}

/// What the pass found under the locks about an entry the first plan removes.
#[derive(Debug, Clone, Copy)]
pub struct Recheck<'a> {
    /// Its Nova lock.
    pub lock: &'a LockState,
    /// For a sidecar whose image is in the cache: the image's outcome so far (images are
    /// confirmed before their sidecars).
    pub image: Option<FileState>,
    /// Its decision in the plan made again under the locks, and whether it is still the same
    /// file, unchanged (device, inode, mtime); `None` if it is no longer there.
    pub now: Option<(&'a FileDecision, bool)>,
}

/// Whether to remove an entry the first plan removes, now that its lock is taken and the host
/// scanned again: only if its lock was to be had, its image (for a sidecar) went, and the new
/// plan still removes it, unchanged. Returns `true` to remove it; otherwise `outcome` says why it
/// stays (or that it is already gone).
pub fn confirm_removal(outcome: &mut FileOutcome, recheck: Recheck<'_>) -> bool {
    let image_stays = recheck
        .image
        .is_some_and(|image| image != FileState::Removed);
    let kept = recheck
        .lock
        .note(false)
        .or_else(|| image_stays.then_some(Note::ImageNotRemoved));
    if let Some(note) = kept {
        outcome.state = FileState::InUse;
        outcome.notes.push(note);
        if outcome.decision.kind == EntryKind::Sidecar
            && let Some(image) = &outcome.decision.belongs_to
        {
            // No longer "removed with it".
            outcome.decision.reasons = vec![Reason::SidecarOfKept {
                image: image.clone(),
            }];
        }
        return false;
    }
    match recheck.now {
        None => {
            outcome.state = FileState::Removed;
            outcome.notes.push(Note::AlreadyGone);
            false
        }
        Some((decision, true)) if decision.state == State::Remove => true,
        Some((decision, _)) => {
            outcome.state = FileState::kept_after_change(decision.state);
            outcome.decision = decision.clone();
            outcome.notes.push(Note::Changed);
            false
        }
    }
}

/// How many of Nova's lock files (the names in `locks/`, after `nova-`) are those of images
/// no longer in the cache. They stay: a process may be waiting on any of them, and unlinking a
/// lock file someone waits on breaks Nova's mutual exclusion.
pub fn stale_lock_files<'a>(
    locked_names: impl IntoIterator<Item = &'a str>,
    in_cache: impl Fn(&str) -> bool,
) -> usize {
    locked_names
        .into_iter()
        .filter(|name| classify(name).kind().is_image() && !in_cache(name))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Users;

    const FP: &str = "356a192b7913b04c54574d18c28d46e6395428ab";

    fn decision(name: &str, state: State) -> FileDecision {
        FileDecision {
            name: name.to_owned(),
            kind: classify(name).kind(),
            belongs_to: classify(name).belongs_to().map(str::to_owned),
            state,
            reasons: vec![Reason::NotCacheName],
            users: Users::default(),
            image_id: None,
            age: 0,
            touch: false,
        }
    }

    fn removable(name: &str) -> FileOutcome {
        FileOutcome::planned(decision(name, State::Remove))
    }

    fn held() -> LockState {
        LockState::Held {
            lock: "locks/nova-x".to_owned(),
        }
    }

    #[test]
    fn plan_states_and_states_after_a_change() {
        let states = [State::InUse, State::TooYoung, State::Remove, State::Ignore];
        let planned = states.map(FileState::planned);
        assert_eq!(
            planned,
            [
                FileState::InUse,
                FileState::TooYoung,
                FileState::Removable,
                FileState::Ignored
            ]
        );
        let after = states.map(FileState::kept_after_change);
        assert_eq!(
            after,
            [
                FileState::InUse,
                FileState::TooYoung,
                FileState::TooYoung,
                FileState::Ignored
            ]
        );
    }

    #[test]
    fn a_removal_is_confirmed_only_with_its_lock_and_unchanged() {
        let now = decision(FP, State::Remove);
        let mut outcome = removable(FP);
        let free = LockState::Free;
        let recheck = Recheck {
            lock: &free,
            image: None,
            now: Some((&now, true)),
        };
        assert!(confirm_removal(&mut outcome, recheck));

        // Held elsewhere, or unusable: kept, with the lock named.
        for lock in [
            held(),
            LockState::Unusable {
                lock: "locks/nova-x".to_owned(),
                problem: "is a symlink: not followed".to_owned(),
            },
        ] {
            let mut outcome = removable(FP);
            assert!(!confirm_removal(
                &mut outcome,
                Recheck {
                    lock: &lock,
                    ..recheck
                }
            ));
            assert_eq!(outcome.state, FileState::InUse);
            assert!(outcome.notes[0].to_string().ends_with(": kept this pass"));
        }

        // Changed: kept as the new plan says, never removed on the old plan's word.
        for (state, kept) in [
            (State::Remove, FileState::TooYoung),
            (State::InUse, FileState::InUse),
        ] {
            let now = decision(FP, state);
            let mut outcome = removable(FP);
            let changed = Recheck {
                now: Some((&now, state == State::InUse)),
                ..recheck
            };
            assert!(!confirm_removal(&mut outcome, changed));
            assert_eq!(
                (outcome.state, &outcome.notes[..]),
                (kept, &[Note::Changed][..])
            );
        }

        // Gone: nothing to do.
        let mut outcome = removable(FP);
        assert!(!confirm_removal(
            &mut outcome,
            Recheck {
                now: None,
                ..recheck
            }
        ));
        assert_eq!(outcome.state, FileState::Removed);
        assert_eq!(outcome.notes, [Note::AlreadyGone]);
    }

    #[test]
    fn a_sidecar_goes_only_after_its_image() {
        let name = format!("{FP}.info");
        let now = decision(&name, State::Remove);
        let free = LockState::Free;
        for (image, removed) in [
            (Some(FileState::Removed), true),
            (Some(FileState::InUse), false),
            (Some(FileState::RemoveFailed), false),
            (None, true),
        ] {
            let mut outcome = removable(&name);
            let recheck = Recheck {
                lock: &free,
                image,
                now: Some((&now, true)),
            };
            assert_eq!(confirm_removal(&mut outcome, recheck), removed, "{image:?}");
            if !removed {
                assert_eq!(outcome.notes, [Note::ImageNotRemoved]);
                assert_eq!(
                    outcome.decision.reasons,
                    [Reason::SidecarOfKept {
                        image: FP.to_owned()
                    }]
                );
            }
        }
    }

    #[test]
    fn a_read_only_pass_says_what_a_clean_would_keep() {
        let mut outcome = removable(FP);
        outcome.keep_for_lock(&LockState::Free);
        assert_eq!(outcome.state, FileState::Removable);
        outcome.keep_for_lock(&held());
        assert_eq!(outcome.state, FileState::InUse);
        assert_eq!(
            outcome.notes[0].to_string(),
            "another process holds its lock locks/nova-x: a clean now would keep it"
        );
        let mut kept = FileOutcome::planned(decision(FP, State::InUse));
        kept.keep_for_lock(&held());
        assert!(kept.notes.is_empty());
    }

    #[test]
    fn only_images_that_stay_are_hashed() {
        let image = FileOutcome::planned(decision(FP, State::InUse));
        assert!(image.is_hashed(FileType::Regular));
        assert!(!image.is_hashed(FileType::Symlink));
        assert!(!removable(FP).is_hashed(FileType::Regular));
        let sidecar = FileOutcome::planned(decision(&format!("{FP}.info"), State::InUse));
        assert!(!sidecar.is_hashed(FileType::Regular));
        let young = FileOutcome::planned(decision("swap_512", State::TooYoung));
        assert!(young.is_hashed(FileType::Regular));
    }

    #[test]
    fn stale_lock_files_are_those_of_images_gone() {
        let locked = [FP, "swap_512", "storage-registry-lock", "README"];
        assert_eq!(stale_lock_files(locked, |name| name == "swap_512"), 1);
    }
}
