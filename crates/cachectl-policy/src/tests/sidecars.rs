//! Policy tests: sidecars.

use super::*;

#[test]
fn sidecars_follow_their_images() {
    let facts = cache(vec![
        file("{1}", 30 * DAY),
        file("{1}.info", 30 * DAY),
        file("{2}", 30 * DAY),
        file("{2}.info", 10),
        file("{3}", 10 * MINUTE),
        file("{3}.sha1", 30 * DAY),
        file("swap_512", 30 * DAY),
        file("swap_512.info", 30 * DAY),
        file("{4}_5", 30 * DAY),
        file("{4}_5.info", 30 * DAY),
    ])
    .records(vec![vm("vm1").image("1")])
    .disks(vec![disk("u1/disk", &["{4}_5"])]);
    check(
        &facts,
        "
        {1} InUse touch: image 1 is used by vm1 on this host
        {1}.info InUse: checksum of {1}, kept with it
        {2} Remove: unused for 30d (originals are kept 1d)
        {2}.info Remove: checksum of {2}, removed with it
        {3} TooYoung: unused for 10m, kept until unused for 1d
        {3}.sha1 TooYoung: checksum of {3}, kept with it
        swap_512 Remove: unused for 30d (swap bases are kept 1d)
        swap_512.info Remove: checksum of swap_512, removed with it
        {4}_5 InUse touch: backing file of u1/disk
        {4}_5.info InUse: checksum of {4}_5, kept with it
        ",
    );
}

#[test]
fn a_sidecar_stays_with_an_image_kept_in_doubt() {
    let facts = cache(vec![
        file("{1}", 30 * DAY),
        file("{1}.info", 30 * DAY),
        file("{2}.info", 30 * DAY),
    ])
    .unreadable(&[("u9/disk", "permission denied")]);
    check(
        &facts,
        "
        {1} InUse: may be in use: 1 file under the instances path could not be read, so nothing is removed | unused for 30d (originals are kept 1d)
        {1}.info InUse: checksum of {1}, kept with it
        {2}.info InUse: may be in use: 1 file under the instances path could not be read, so nothing is removed | checksum of {2}, which is not in the cache | unused for 30d (orphan sidecars are kept 1h)
        warning: cannot read u9/disk (a disk by Nova's name for one; nothing is removed while it cannot be read): permission denied
        warning: nothing is removed: 1 file that may be a disk could not be read; fix or remove it, or once you have looked, acknowledge it with --ack-unreadable FILE
        removal blocked
        ",
    );
}
