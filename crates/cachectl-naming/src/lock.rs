//! The names of Nova's lock files.

/// The prefix oslo.concurrency gives Nova's lock files (`lock_file_prefix = "nova-"`).
pub const NOVA_LOCK_PREFIX: &str = "nova-";

/// The lock file Nova uses for `name` (a base file name, or `storage-registry-lock`), in
/// `instances_path/locks`.
///
/// ```
/// assert_eq!(cachectl_naming::nova_lock_name("swap_512"), "nova-swap_512");
/// ```
pub fn nova_lock_name(name: &str) -> String {
    format!("{NOVA_LOCK_PREFIX}{name}")
}
