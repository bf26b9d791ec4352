//! The I/O priority of the calling thread (`ioprio_set(2)`), so that a run can yield the disk.

use std::io;

/// `IOPRIO_WHO_PROCESS`: the target is one thread, by id (0: the caller).
const IOPRIO_WHO_PROCESS: libc::c_int = 1;
/// The class sits above the 13 bits of its level.
const IOPRIO_CLASS_SHIFT: u32 = 13;
/// The level of the best-effort class that a process of nice 0 gets without asking.
pub const DEFAULT_BEST_EFFORT_LEVEL: u8 = 4;

/// An I/O scheduling class and its level (0 is the highest, 7 the lowest), as `ionice` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoPriority {
    /// None set: best-effort, at the level the CPU nice value gives.
    Unset,
    /// Served before every other class.
    RealTime(u8),
    /// Shares the disk with the other best-effort work, by level.
    BestEffort(u8),
    /// Served only when no other process has waited on the disk for a while.
    Idle,
}

impl IoPriority {
    /// The kernel's encoding: the class above its level.
    fn encode(self) -> libc::c_int {
        let (class, level) = match self {
            Self::Unset => (0, 0),
            Self::RealTime(level) => (1, level),
            Self::BestEffort(level) => (2, level),
            Self::Idle => (3, 0),
        };
        (class << IOPRIO_CLASS_SHIFT) | libc::c_int::from(level)
    }

    /// The priority the kernel encoded as `value`.
    fn decode(value: libc::c_int) -> io::Result<Self> {
        let level = (value & ((1 << IOPRIO_CLASS_SHIFT) - 1)) as u8;
        match value >> IOPRIO_CLASS_SHIFT {
            0 => Ok(Self::Unset),
            1 => Ok(Self::RealTime(level)),
            2 => Ok(Self::BestEffort(level)),
            3 => Ok(Self::Idle),
            class => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the kernel gave an unknown I/O priority class {class}"),
            )),
        }
    }
}

/// Sets the I/O priority of the calling thread, and so of the threads it starts afterwards (they
/// inherit it): call it before starting any.
///
/// The class is honoured where the disk's I/O scheduler has classes (BFQ, mq-deadline); `none`
/// and the network traffic of NFS or CephFS ignore it.
pub fn set_io_priority(priority: IoPriority) -> io::Result<()> {
    ioprio_call(libc::SYS_ioprio_set, priority.encode()).map(drop)
}

/// The I/O priority of the calling thread.
pub fn io_priority() -> io::Result<IoPriority> {
    IoPriority::decode(ioprio_call(libc::SYS_ioprio_get, 0)?)
}

/// `ioprio_set(IOPRIO_WHO_PROCESS, 0, value)` or `ioprio_get(IOPRIO_WHO_PROCESS, 0)` (which
/// ignores `value`), by system call `number`: the kernel's answer.
///
/// rustix does not wrap these calls and libc has no function for them, only their numbers.
#[allow(unsafe_code)]
fn ioprio_call(number: libc::c_long, value: libc::c_int) -> io::Result<libc::c_int> {
    // SAFETY: both calls take three integers and no pointer, and change nothing but the calling
    // thread's I/O priority.
    let answer = unsafe { libc::syscall(number, IOPRIO_WHO_PROCESS, 0, value) };
    if answer < 0 {
        return Err(io::Error::last_os_error());
    }
    libc::c_int::try_from(answer).map_err(|_| io::Error::from_raw_os_error(libc::ERANGE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_is_set_read_back_and_inherited_by_new_threads() -> io::Result<()> {
        // In a thread of its own: the priority is the thread's, and other tests run beside.
        std::thread::spawn(|| {
            set_io_priority(IoPriority::Idle)?;
            assert_eq!(io_priority()?, IoPriority::Idle);
            let child = std::thread::spawn(io_priority).join().expect("no panic")?;
            assert_eq!(child, IoPriority::Idle);
            set_io_priority(IoPriority::BestEffort(DEFAULT_BEST_EFFORT_LEVEL))?;
            assert_eq!(io_priority()?, IoPriority::BestEffort(4));
            Ok(())
        })
        .join()
        .expect("no panic")
    }

    #[test]
    fn encodings_round_trip() -> io::Result<()> {
        for priority in [
            IoPriority::Unset,
            IoPriority::RealTime(0),
            IoPriority::BestEffort(7),
            IoPriority::Idle,
        ] {
            assert_eq!(IoPriority::decode(priority.encode())?, priority);
        }
        assert!(IoPriority::decode(4 << IOPRIO_CLASS_SHIFT).is_err());
        Ok(())
    }
}
