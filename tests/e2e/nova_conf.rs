//! nova.conf in a pass and in `cachectl config`: the settings it gives, flags that override
//! them, where each came from, the warning that Nova's own pass deletes, a backend with no local
//! cache, and a malformed file.

use std::fs;
use std::process::{Command, Stdio};

use cachectl_naming::{EphemeralFs, ephemeral_name};
use serde_json::json;

use crate::support::*;

const IMAGE: &str = "155d900f-4e14-4e4c-a73d-069cbf4541e6";
const MKFS: &str = "mkfs.ext4 -L %(fs_label)s -F %(target)s";

/// Writes `text` as a nova.conf under the host's root.
fn nova_conf(host: &Host, name: &str, text: &str) -> String {
    let path = host.root().join(name);
    fs::create_dir_all(path.parent().expect("a parent")).expect("its directory");
    fs::write(&path, text).expect("a nova.conf");
    path.display().to_string()
}

/// Runs cachectl with `args` only: no instances path, host or nova.conf given for it.
fn run_bare(host: &Host, args: &[&str]) -> Run {
    let output = Command::new(cachectl_bin())
        .args(args)
        .env("CACHECTL_NOW", NOW.to_string())
        .env_remove("CACHECTL_LOG")
        .current_dir(host.root())
        .stdin(Stdio::null())
        .output()
        .expect("cachectl runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The settings `config --format json` prints, as (`[section] option`, value, from).
fn settings(run: &Run) -> Vec<(String, serde_json::Value, String)> {
    let report = run.json();
    report["settings"]
        .as_array()
        .expect("settings")
        .iter()
        .map(|row| {
            (
                format!(
                    "[{}] {}",
                    row["section"].as_str().unwrap_or_default(),
                    row["option"].as_str().unwrap_or_default()
                ),
                row["value"].clone(),
                row["from"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_pass_takes_the_instances_path_cache_and_ages_from_nova_conf_and_flags_win() {
    let host = Host::new();
    let state = host.root().join("state");
    let instances = state.join("instances");
    let cache = instances.join("_cache");
    fs::create_dir_all(&cache).expect("the cache");
    let two_hours_old = cache.join(fp(IMAGE));
    fs::write(&two_hours_old, b"an image").expect("an image");
    set_age(&two_hours_old, 2 * HOUR);
    let conf = nova_conf(
        &host,
        "nova.conf",
        &format!(
            "[DEFAULT]\nstate_path = {}\nhost = compute-1\n\n[image_cache]\n\
             subdirectory_name = _cache\nremove_unused_original_minimum_age_seconds = 3600\n",
            state.display()
        ),
    );
    let audit = |extra: &[&str]| {
        let mut args = vec![
            "--config-file",
            conf.as_str(),
            "--no-libvirt",
            "audit",
            "--format",
            "json",
        ];
        args.extend(extra);
        run_bare(&host, &args)
    };
    let run = audit(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["base_dir"], cache.display().to_string());
    assert_eq!(report["host"], "compute-1");
    assert_eq!(state_of(&report, &fp(IMAGE)), "removable");
    let run = run_bare(
        &host,
        &[
            "--config-file",
            &conf,
            "--no-libvirt",
            "--original-min-age",
            "3h",
            "audit",
            "--format",
            "json",
        ],
    );
    assert_eq!(state_of(&run.json(), &fp(IMAGE)), "too_young");
}

#[test]
fn deprecated_names_and_a_config_dir_give_the_same_settings_as_one_current_file() {
    let host = Host::new();
    let current = nova_conf(
        &host,
        "current/nova.conf",
        "[DEFAULT]\nstate_path = /srv/nova\nhost = compute-9\nmy_ip = 10.0.0.9\n\
         virt_mkfs = linux=mkfs.ext4 -F %(target)s\n\n[image_cache]\nsubdirectory_name = _base_$my_ip\n\
         remove_unused_base_images = false\nremove_unused_original_minimum_age_seconds = 7200\n\
         remove_unused_resized_minimum_age_seconds = 600\nmanager_interval = -1\n\n\
         [libvirt]\nimages_type = qcow2\n",
    );
    let deprecated = nova_conf(
        &host,
        "deprecated/nova.conf",
        "[DEFAULT]\nstate_path = /srv/nova\nhost = compute-9\nmy_ip = 10.0.0.9\n\
         image_cache_subdirectory_name = _base_${my_ip}\nremove_unused_base_images = False\n\
         remove_unused_original_minimum_age_seconds = 7200\nimage_cache_manager_interval = -1\n\n\
         [libvirt]\nremove_unused_resized_minimum_age_seconds = 600\n",
    );
    nova_conf(
        &host,
        "deprecated/nova.conf.d/50-libvirt.conf",
        "[DEFAULT]\nvirt_mkfs = linux=mkfs.ext4 -F %(target)s\n[libvirt]\nimages_type = qcow2\n",
    );
    let dir = host
        .root()
        .join("deprecated/nova.conf.d")
        .display()
        .to_string();
    let a = run_bare(
        &host,
        &["--config-file", &current, "config", "--format", "json"],
    );
    let b = run_bare(
        &host,
        &[
            "--config-file",
            &deprecated,
            "--config-dir",
            &dir,
            "config",
            "--format",
            "json",
        ],
    );
    assert_eq!(a.code, 0, "{}", a.stderr);
    assert_eq!(b.code, 0, "{}", b.stderr);
    let values = |run: &Run| {
        settings(run)
            .into_iter()
            .map(|(option, value, _)| (option, value))
            .collect::<Vec<_>>()
    };
    assert_eq!(values(&a), values(&b));
    let expected = [
        ("[DEFAULT] instances_path", json!("/srv/nova/instances")),
        ("[image_cache] subdirectory_name", json!("_base_10.0.0.9")),
        ("[image_cache] remove_unused_base_images", json!(false)),
        (
            "[image_cache] remove_unused_original_minimum_age_seconds",
            json!(7200),
        ),
        (
            "[image_cache] remove_unused_resized_minimum_age_seconds",
            json!(600),
        ),
        ("[image_cache] manager_interval", json!(-1)),
        (
            "[DEFAULT] virt_mkfs",
            json!("linux=mkfs.ext4 -F %(target)s"),
        ),
        ("[libvirt] images_type", json!("qcow2")),
    ];
    let got = values(&b);
    for (option, value) in expected {
        assert!(
            got.contains(&(option.to_owned(), value.clone())),
            "{option} = {value} in {got:?}"
        );
    }
}

#[test]
fn config_says_where_each_setting_came_from() {
    let host = Host::new();
    let conf = nova_conf(
        &host,
        "nova.conf",
        "[DEFAULT]\nstate_path = /srv/nova\nmy_ip = 10.0.0.9\n\n[image_cache]\n\
         remove_unused_original_minimum_age_seconds = 7200\n",
    );
    let run = run_bare(
        &host,
        &[
            "--config-file",
            &conf,
            "--host",
            "compute-7",
            "--resized-min-age",
            "2h",
            "config",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let filters = host.filters();
    let filters: Vec<(&str, &str)> = filters.iter().map(|(r, s)| (r.as_str(), *s)).collect();
    insta::with_settings!({filters => filters}, {
        insta::assert_snapshot!("config_text", run.stdout);
    });
    let json = run_bare(
        &host,
        &[
            "--config-file",
            &conf,
            "--host",
            "compute-7",
            "config",
            "--format",
            "json",
        ],
    )
    .json();
    let row = |option: &str| {
        json["settings"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["option"] == option))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        row("remove_unused_original_minimum_age_seconds")["origin"],
        json!({"kind": "file", "path": conf, "line": 6})
    );
    assert_eq!(
        row("host")["origin"],
        json!({"kind": "flag", "flag": "--host"})
    );
    assert_eq!(
        row("manager_interval")["origin"],
        json!({"kind": "default"})
    );
}

#[test]
fn nova_conf_where_novas_own_pass_deletes_is_a_warning_until_it_is_turned_off() {
    let host = Host::new();
    host.base_file(&fp(IMAGE), 1 << 20, 30 * DAY);
    let deletes = nova_conf(&host, "deletes.conf", "[DEFAULT]\nhost = compute-1\n");
    let report = host
        .run(&["--config-file", &deletes, "audit", "--format", "json"])
        .json();
    let warning = warning(&report, "nova_pass_deletes");
    assert!(
        warning.starts_with(
            "Nova's own pass removes unused base files ([image_cache] remove_unused_base_images = \
             True from default, manager_interval = 2400 from default)"
        ),
        "{warning}"
    );
    let off = nova_conf(
        &host,
        "off.conf",
        "[image_cache]\nremove_unused_base_images = False\n",
    );
    let report = host
        .run(&["--config-file", &off, "audit", "--format", "json"])
        .json();
    assert!(!warning_codes(&report).contains(&"nova_pass_deletes".to_owned()));
    // No nova.conf: no Nova here to warn about.
    let report = host.run(&["audit", "--format", "json"]).json();
    assert!(!warning_codes(&report).contains(&"nova_pass_deletes".to_owned()));
}

#[test]
fn virt_mkfs_from_nova_conf_names_the_ephemeral_bases_records_use() {
    let host = Host::new();
    let mkfs = [("linux", MKFS)];
    let fs = EphemeralFs {
        default_ephemeral_format: None,
        mkfs_commands: &mkfs,
    };
    let name = ephemeral_name(20, Some("linux"), &fs).remove(0);
    host.base_file(&name, 1 << 20, 30 * DAY);
    let records = host.inventory(&[json!({"uuid": "u1", "name": "instance-1", "host": HOST,
        "image_ref": null, "ephemeral_gb": 20, "os_type": "linux"})]);
    let records = records.display().to_string();
    let conf = nova_conf(
        &host,
        "nova.conf",
        &format!("[DEFAULT]\nvirt_mkfs = linux={MKFS}\n"),
    );
    let with = host
        .run(&[
            "--config-file",
            &conf,
            "audit",
            "--format",
            "json",
            "--inventory",
            &records,
        ])
        .json();
    assert_eq!(state_of(&with, &name), "in_use");
    let without = host
        .run(&["audit", "--format", "json", "--inventory", &records])
        .json();
    assert_eq!(state_of(&without, &name), "removable");
    let flag = format!("linux={MKFS}");
    let by_flag = host
        .run(&[
            "--virt-mkfs",
            &flag,
            "audit",
            "--format",
            "json",
            "--inventory",
            &records,
        ])
        .json();
    assert_eq!(state_of(&by_flag, &name), "in_use");
}

#[test]
fn an_rbd_backend_has_no_local_cache_and_a_pass_does_nothing() {
    let host = Host::new();
    host.base_file(&fp(IMAGE), 1 << 20, 30 * DAY);
    let conf = nova_conf(&host, "nova.conf", "[libvirt]\nimages_type = rbd\n");
    let run = host.run(&["--config-file", &conf, "clean", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["files"], json!([]));
    assert_eq!(
        warning(&report, "no_local_cache"),
        format!(
            "[libvirt] images_type = rbd ({conf}:2): instance disks are Ceph RBD images, not \
             files that use a local cache; nothing to do (Nova's own pass cleans what it \
             downloads into the cache before importing it into Ceph; --images-type default \
             audits it)"
        )
    );
    assert!(host.has(&fp(IMAGE)));
    // Nova's pass is what cleans such a cache: no warning that it deletes.
    assert!(!warning_codes(&report).contains(&"nova_pass_deletes".to_owned()));
    // The flag overrides nova.conf.
    let run = host.run(&[
        "--config-file",
        &conf,
        "--images-type",
        "qcow2",
        "clean",
        "--format",
        "json",
    ]);
    assert_eq!(state_of(&run.json(), &fp(IMAGE)), "removed");
}

#[test]
fn a_malformed_nova_conf_is_one_line_naming_the_file_and_line_and_nothing_is_done() {
    let host = Host::new();
    host.base_file(&fp(IMAGE), 1 << 20, 30 * DAY);
    for (text, problem) in [
        ("[DEFAULT]\nhost\n", ":2: no `=` or `:` after the key"),
        (
            "[image_cache]\nmanager_interval = -2\n",
            ":2: [image_cache] manager_interval = -2: less than -1, the least Nova allows",
        ),
        (
            "[image_cache]\nsubdirectory_name = a/b\n",
            ":2: [image_cache] subdirectory_name = a/b: not one directory name under the instances path (cachectl follows no other)",
        ),
    ] {
        let conf = nova_conf(&host, "nova.conf", text);
        let run = host.run(&["--config-file", &conf, "clean"]);
        assert_eq!(run.code, 3, "{}", run.stderr);
        assert_eq!(run.stderr, format!("cachectl: error: {conf}{problem}\n"));
    }
    let missing = host.root().join("missing.conf").display().to_string();
    let run = host.run(&["--config-file", &missing, "audit"]);
    assert_eq!(run.code, 3);
    assert!(
        run.stderr.starts_with(&format!(
            "cachectl: error: cannot read the config file {missing}: "
        )),
        "{}",
        run.stderr
    );
    assert!(host.has(&fp(IMAGE)));
}
