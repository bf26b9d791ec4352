//! A small worker pool: scoped threads taking items from one shared queue, results in order.
//!
//! [`map`] runs a function on every item of a slice with up to `jobs` threads. The items are
//! queued largest first (by a cost the caller gives, file sizes for hashing), so that one big file
//! is not left to start last while the other workers sit idle; each worker takes the next item
//! with one atomic increment. Results come back in the order of the items, whatever order the
//! threads finish in, so reports stay deterministic. With one job, or one item, no thread is
//! started. A worker that panics makes [`map`] panic with the same payload once every worker has
//! stopped (the others take no new items). For example, `map(&["a", "bbb", "cc"], two, |s|
//! s.len() as u64, |s| s.len())` is `[1, 3, 2]` (the unit tests below run it).

use std::num::NonZeroUsize;
use std::panic;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

/// One worker per core, as the machine (or its CPU affinity and cgroup quota) allows; one if that
/// cannot be told.
pub(crate) fn default_jobs() -> NonZeroUsize {
    thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
}

/// `work(item)` for every item, with up to `jobs` threads, costliest items first; the results in
/// the order of `items`.
pub(crate) fn map<T, R, C, W>(items: &[T], jobs: NonZeroUsize, cost: C, work: W) -> Vec<R>
where
    T: Sync,
    R: Send,
    C: Fn(&T) -> u64,
    W: Fn(&T) -> R + Sync,
{
    let workers = jobs.get().min(items.len());
    if workers <= 1 {
        return items.iter().map(work).collect();
    }
    // Costliest first; equal costs in item order, so the schedule itself is deterministic.
    let mut queue: Vec<usize> = (0..items.len()).collect();
    queue.sort_by_key(|&i| std::cmp::Reverse(cost(&items[i])));

    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let worker = || {
        let mut done = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let Some(&index) = queue.get(next.fetch_add(1, Ordering::Relaxed)) else {
                break;
            };
            // A panic stops the other workers from taking new items, then reaches the caller.
            let result = panic::catch_unwind(panic::AssertUnwindSafe(|| work(&items[index])));
            match result {
                Ok(result) => done.push((index, result)),
                Err(payload) => {
                    stop.store(true, Ordering::Relaxed);
                    panic::resume_unwind(payload);
                }
            }
        }
        done
    };

    let mut slots: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    let mut panicked = None;
    thread::scope(|scope| {
        let handles: Vec<_> = (0..workers).map(|_| scope.spawn(worker)).collect();
        for handle in handles {
            match handle.join() {
                Ok(done) => {
                    for (index, result) in done {
                        slots[index] = Some(result);
                    }
                }
                Err(payload) => {
                    panicked.get_or_insert(payload);
                }
            }
        }
    });
    if let Some(payload) = panicked {
        panic::resume_unwind(payload);
    }
    // Every index was taken by exactly one worker, and no worker panicked: every slot is full.
    slots.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Mutex;
    use std::time::Duration;

    fn jobs(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).expect("not zero")
    }

    #[test]
    fn results_are_in_item_order_whatever_the_finishing_order() {
        let items: Vec<u64> = (0..64).collect();
        for n in [1, 2, 3, 8, 100] {
            // Items finish in reverse order of their index: later items sleep less.
            let results = map(
                &items,
                jobs(n),
                |&i| i,
                |&i| {
                    thread::sleep(Duration::from_micros(64 - i));
                    i * 10
                },
            );
            assert_eq!(results, items.iter().map(|i| i * 10).collect::<Vec<_>>());
        }
    }

    #[test]
    fn costliest_items_start_first_and_every_item_runs_once() {
        let items = [5u64, 50, 1, 500, 20];
        let started = Mutex::new(Vec::new());
        let results = map(
            &items,
            jobs(1),
            |&size| size,
            |&size| {
                started.lock().expect("not poisoned").push(size);
                size
            },
        );
        assert_eq!(results, items);
        // One job runs inline, in item order.
        assert_eq!(*started.lock().expect("not poisoned"), items);

        let started = Mutex::new(Vec::new());
        let threads = Mutex::new(HashSet::new());
        let results = map(
            &items,
            jobs(2),
            |&size| size,
            |&size| {
                started.lock().expect("not poisoned").push(size);
                threads
                    .lock()
                    .expect("not poisoned")
                    .insert(thread::current().id());
                thread::sleep(Duration::from_millis(5));
                size
            },
        );
        assert_eq!(results, items);
        let mut started = started.into_inner().expect("not poisoned");
        // The two largest are the first two taken (in either order, two workers race for them).
        started[..2].sort_unstable();
        assert_eq!(started[..2], [50, 500]);
        started.sort_unstable();
        assert_eq!(started, [1, 5, 20, 50, 500]);
        assert!(
            !threads
                .into_inner()
                .expect("not poisoned")
                .contains(&thread::current().id())
        );
    }

    #[test]
    fn errors_stay_with_their_items() {
        let items = ["1", "two", "3", "", "5"];
        let results = map(&items, jobs(3), |s| s.len() as u64, |s| s.parse::<u32>());
        let shown: Vec<String> = results
            .iter()
            .map(|r| match r {
                Ok(n) => n.to_string(),
                Err(err) => err.to_string(),
            })
            .collect();
        assert_eq!(
            shown,
            [
                "1",
                "invalid digit found in string",
                "3",
                "cannot parse integer from empty string",
                "5"
            ]
        );
    }

    #[test]
    fn a_panicking_worker_reaches_the_caller_and_stops_the_others() {
        // Running every item would take a second; the panic (and its hook, which may capture a
        // backtrace) takes far less.
        let items: Vec<u32> = (0..2_000).collect();
        let ran = AtomicUsize::new(0);
        let result = panic::catch_unwind(panic::AssertUnwindSafe(|| {
            map(
                &items,
                jobs(2),
                |_| 0,
                |&i| {
                    ran.fetch_add(1, Ordering::Relaxed);
                    thread::sleep(Duration::from_millis(1));
                    if i == 10 {
                        panic!("item 10 failed");
                    }
                    i
                },
            )
        }));
        let payload = result.expect_err("the panic reaches the caller");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"item 10 failed"));
        let ran = ran.load(Ordering::Relaxed);
        assert!(ran < items.len(), "{ran} items ran");
    }

    #[test]
    fn no_items_no_work() {
        let none: [u8; 0] = [];
        assert!(map(&none, jobs(4), |_| 0, |&b| b).is_empty());
        assert!(default_jobs().get() >= 1);
    }
}
