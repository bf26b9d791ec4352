//! Policy tests: image usage and copies of an image.

use super::*;

#[test]
fn image_usage_counts_instances_per_image_key_as_nova_does() {
    let records = [
        vm("vm1").image("1").kernel("k"),
        vm("vm2").image("1").on(OTHER_HOST),
        vm("vm3").image(""),
        vm("vm4").image("1").kernel("1").ramdisk("r"),
    ];
    let usage = image_usage(&records, HOST);
    let ids: Vec<&str> = usage.keys().copied().collect();
    assert_eq!(ids, ["1", "k", "r"]);
    let local = |name| (name, HOST);
    assert_eq!(
        usage.get("1"),
        Some(&ImageUsage {
            local: 3,
            remote: 1,
            instances: vec![
                local("vm1"),
                ("vm2", OTHER_HOST),
                local("vm4"),
                local("vm4"),
            ],
        })
    );
    assert_eq!(usage.get("1").map(ImageUsage::popularity), Some(4));
    assert_eq!(usage.get("k").map(ImageUsage::popularity), Some(1));
}

#[test]
fn copies_of_an_image_come_original_first_then_small_then_resized_in_given_order() {
    let names: Vec<String> = [
        "{1}_20", "{1}.info", "{2}", "{1}_sm", "{1}_5", "{1}", "{1}.part", "{2}_sm",
    ]
    .map(name)
    .into();
    let found = files_for_fingerprint(names.iter().map(String::as_str), fingerprint("1").as_str());
    let found: Vec<(String, EntryKind)> = found
        .into_iter()
        .map(|(n, kind)| (n.to_owned(), kind))
        .collect();
    assert_eq!(
        found,
        [
            (name("{1}"), EntryKind::Original),
            (name("{1}_sm"), EntryKind::LegacySmall),
            (name("{1}_20"), EntryKind::Resized),
            (name("{1}_5"), EntryKind::Resized),
        ]
    );
}

#[test]
fn plan_lookups() {
    let plan = crate::plan(&cache(vec![file("{1}", 30 * DAY), file("{2}", 0)]));
    assert_eq!(plan.names_in(State::Remove), [name("{1}")]);
    assert_eq!(plan.names_in(State::TooYoung), [name("{2}")]);
    assert!(plan.file("missing").is_none());
    assert!(!State::Remove.is_kept());
    assert!(
        [State::InUse, State::TooYoung, State::Ignore]
            .iter()
            .all(|s| s.is_kept())
    );
}
