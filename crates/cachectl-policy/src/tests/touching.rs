//! Policy tests: touching.

use super::*;

#[test]
fn only_files_known_to_be_in_use_are_touched() {
    let facts = cache(vec![
        file("{1}", 30 * DAY),
        file("{1}.info", 30 * DAY),
        file("{2}_5", 30 * DAY).backed_by(&["{2}"]),
        file("{2}", 30 * DAY),
        file("{3}", 10 * MINUTE),
        file("{4}", 30 * DAY),
        file("README", 30 * DAY),
    ])
    .records(vec![vm("vm1").image("1")])
    .disks(vec![disk("u1/disk", &["{2}_5", "README"])]);
    let plan = crate::plan(&facts);
    assert_invariants(&facts, &plan);
    let touched: Vec<String> = plan
        .files
        .iter()
        .filter(|f| f.touch)
        .map(|f| f.name.clone())
        .collect();
    assert_eq!(touched, [name("{1}"), name("{2}_5"), name("{2}")]);

    let in_doubt = facts.unreadable(&[("u9/disk", "permission denied")]);
    let plan = crate::plan(&in_doubt);
    assert_eq!(decision(&plan, "{4}").state, State::InUse);
    assert!(!decision(&plan, "{4}").touch);
}
