//! Space pressure: which unused files younger than their minimum age a `clean` removes when the
//! file system holding the cache runs short of free space, or the cache grows past its limit.
//!
//! Only files nothing uses are ever candidates (the plan's `TooYoung`), the longest unused
//! first (mtime is "unused since": files in use are touched), and no more of them than it takes
//! to meet the target, counting what the pass removes by age first.

/// The least a file must have been unused for space pressure to take it (the age rule may
/// take it sooner): a base just downloaded, whose overlay Nova is about to create, is left alone.
pub const SPACE_MIN_AGE: u64 = 600;

/// What an operator asks of the space the cache takes, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpaceTarget {
    /// `--min-free`: the free space (`df`'s Avail) the file system must keep.
    pub min_free: Option<u64>,
    /// `--max-cache-size`: the most the cache may take on disk.
    pub max_cache: Option<u64>,
}

impl SpaceTarget {
    /// Whether a file system with `avail` bytes free and a cache of `cache` bytes meets it.
    pub fn met(self, avail: u64, cache: u64) -> bool {
        self.min_free.is_none_or(|min| avail >= min)
            && self.max_cache.is_none_or(|max| cache <= max)
    }
}

/// The space facts of a pass: the target, and the file system and cache as the pass first
/// found them (scans again under Nova's locks reuse them: the target is the first scan's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpaceFacts {
    /// What is asked.
    pub target: SpaceTarget,
    /// The file system's free space (`df`'s Avail) when the pass began.
    pub avail_bytes: u64,
    /// The bytes the cache's files took on disk when the pass began.
    pub cache_bytes: u64,
}

impl SpaceFacts {
    /// The free space now, for a cache that takes `cache_now` bytes: what the cache gave back
    /// since the pass began (earlier rounds of removals) is free again.
    pub fn avail_now(self, cache_now: u64) -> u64 {
        self.avail_bytes
            .saturating_add(self.cache_bytes.saturating_sub(cache_now))
    }
}

/// `--max-remove`: the most one run removes, in files or in bytes on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovalCap {
    /// At most this many files (sidecars, which go with their images, are not counted).
    Files(u64),
    /// At most this many bytes on disk.
    Bytes(u64),
}

/// How many of `removals` (bytes each, in the order they are to go) one run removes under
/// `cap`: as many as fit, from the first; a file that does not fit stops the run there.
pub fn within_cap(removals: &[u64], cap: RemovalCap) -> usize {
    match cap {
        RemovalCap::Files(n) => removals.len().min(usize::try_from(n).unwrap_or(usize::MAX)),
        RemovalCap::Bytes(max) => {
            let mut total = 0u64;
            removals
                .iter()
                .take_while(|&&bytes| {
                    total = total.saturating_add(bytes);
                    total <= max
                })
                .count()
        }
    }
}

/// A file space pressure may remove: how long it has been unused, and what removing it frees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Seconds since its mtime.
    pub age: u64,
    /// Bytes allocated to it on disk.
    pub bytes: u64,
}

/// Which of `candidates` to remove (their indices, in the order chosen) so that a file system
/// with `avail` bytes free and a cache of `cache` bytes meets `target`: the longest unused
/// first, until it is met (ties: the larger first, then the order given). Nothing when it is
/// met already; all of them when even that does not meet it.
pub fn make_room(
    candidates: &[Candidate],
    avail: u64,
    cache: u64,
    target: SpaceTarget,
) -> Vec<usize> {
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (candidates[a], candidates[b]);
        b.age.cmp(&a.age).then(b.bytes.cmp(&a.bytes))
    });
    let (mut avail, mut cache) = (avail, cache);
    let mut chosen = Vec::new();
    for index in order {
        if target.met(avail, cache) {
            break;
        }
        let bytes = candidates[index].bytes;
        avail = avail.saturating_add(bytes);
        cache = cache.saturating_sub(bytes);
        chosen.push(index);
    }
    chosen
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn candidates() -> impl Strategy<Value = Vec<Candidate>> {
        proptest::collection::vec(
            (0u64..1_000_000, 0u64..1 << 40).prop_map(|(age, bytes)| Candidate { age, bytes }),
            0..40,
        )
    }

    fn target() -> impl Strategy<Value = SpaceTarget> {
        (
            proptest::option::of(0u64..1 << 44),
            proptest::option::of(0u64..1 << 44),
        )
            .prop_map(|(min_free, max_cache)| SpaceTarget {
                min_free,
                max_cache,
            })
    }

    proptest! {
        #[test]
        fn never_more_than_needed_and_the_longest_unused_first(
            files in candidates(), avail in 0u64..1 << 44, cache in 0u64..1 << 44, target in target(),
        ) {
            let chosen = make_room(&files, avail, cache, target);
            // Each index once.
            let mut seen = chosen.clone();
            seen.sort_unstable();
            seen.dedup();
            prop_assert_eq!(seen.len(), chosen.len());
            // Oldest first: no file left behind is older than one chosen.
            let youngest_chosen = chosen.iter().map(|&i| files[i].age).min();
            if let Some(youngest) = youngest_chosen {
                for (i, file) in files.iter().enumerate() {
                    if !chosen.contains(&i) {
                        prop_assert!(file.age <= youngest, "{file:?} left, {youngest} s chosen");
                    }
                }
            }
            // Never more than needed: without the last one chosen, the target was not met.
            let freed = |n: usize| chosen[..n].iter().map(|&i| files[i].bytes).sum::<u64>();
            if let Some(last) = chosen.len().checked_sub(1) {
                let before = freed(last);
                prop_assert!(!target.met(avail.saturating_add(before), cache.saturating_sub(before)));
            }
            // Met, unless every candidate went.
            let all = freed(chosen.len());
            prop_assert!(
                target.met(avail.saturating_add(all), cache.saturating_sub(all))
                    || chosen.len() == files.len()
            );
        }
    }

    #[test]
    fn a_cap_takes_removals_in_order_until_one_does_not_fit() {
        assert_eq!(within_cap(&[5, 5, 5], RemovalCap::Files(2)), 2);
        assert_eq!(within_cap(&[5, 5, 5], RemovalCap::Files(9)), 3);
        assert_eq!(within_cap(&[5, 5, 5], RemovalCap::Bytes(12)), 2);
        assert_eq!(within_cap(&[5, 50, 5], RemovalCap::Bytes(12)), 1);
        assert_eq!(within_cap(&[5], RemovalCap::Bytes(4)), 0);
        assert_eq!(within_cap(&[], RemovalCap::Files(0)), 0);
    }

    #[test]
    fn a_target_met_already_removes_nothing() {
        let files = [Candidate { age: 10, bytes: 5 }];
        let target = SpaceTarget {
            min_free: Some(100),
            max_cache: Some(50),
        };
        assert!(make_room(&files, 100, 50, target).is_empty());
        assert!(make_room(&files, 100, 50, SpaceTarget::default()).is_empty());
    }

    #[test]
    fn the_longest_unused_go_first_until_both_targets_are_met() {
        let files = [
            Candidate {
                age: 100,
                bytes: 10,
            },
            Candidate {
                age: 300,
                bytes: 10,
            },
            Candidate {
                age: 200,
                bytes: 10,
            },
        ];
        // 15 bytes short of free space: the two oldest go.
        let target = SpaceTarget {
            min_free: Some(115),
            max_cache: None,
        };
        assert_eq!(make_room(&files, 100, 30, target), [1, 2]);
        // And a cache limit that asks for one more.
        let both = SpaceTarget {
            min_free: Some(115),
            max_cache: Some(0),
        };
        assert_eq!(make_room(&files, 100, 30, both), [1, 2, 0]);
    }

    #[test]
    fn what_earlier_rounds_gave_back_is_free_again() {
        let facts = SpaceFacts {
            target: SpaceTarget::default(),
            avail_bytes: 1_000,
            cache_bytes: 500,
        };
        assert_eq!(facts.avail_now(500), 1_000);
        assert_eq!(facts.avail_now(200), 1_300);
        assert_eq!(
            facts.avail_now(700),
            1_000,
            "a cache that grew takes nothing back"
        );
    }
}
