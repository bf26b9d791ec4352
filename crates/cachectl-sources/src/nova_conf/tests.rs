//! Tests of nova.conf as a whole: files read in order, deprecated names, substitution, typed
//! values and where each came from. The expected values of the tricky cases were checked once
//! against oslo.config 10.7 with Nova 34's option declarations.

use std::fs;
use std::path::{Path, PathBuf};

use super::*;

fn defaults() -> Defaults {
    Defaults {
        host: "compute-1".to_owned(),
        my_ip: Some("192.0.2.7".to_owned()),
    }
}

/// The settings of `texts`, read as the files `f1.conf`, `f2.conf`... in that order.
fn conf(texts: &[&str]) -> Result<NovaConf, String> {
    let files: Vec<ParsedFile> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let path = PathBuf::from(format!("f{}.conf", i + 1));
            let entries = parse(&path, text.as_bytes()).map_err(|e| e.to_string())?;
            Ok(ParsedFile { path, entries })
        })
        .collect::<Result<_, String>>()?;
    NovaConf::from_parsed(&files, &defaults()).map_err(|e| e.to_string())
}

fn at(path: &str, line: usize) -> Provenance {
    Provenance::File {
        path: path.into(),
        line,
    }
}

/// Everything a `NovaConf` says but the files read and where each setting came from.
fn values(conf: &NovaConf) -> String {
    format!(
        "{} {} {} {:?} {:?} {:?} {} {} {} {} {} {}",
        conf.state_path.value.display(),
        conf.instances_path.value.display(),
        conf.host.value,
        conf.my_ip.as_ref().map(|s| &s.value),
        conf.default_ephemeral_format.as_ref().map(|s| &s.value),
        conf.virt_mkfs.iter().map(|s| &s.value).collect::<Vec<_>>(),
        conf.subdirectory_name.value,
        conf.remove_unused_base_images.value,
        conf.original_minimum_age.value,
        conf.resized_minimum_age.value,
        conf.manager_interval.value,
        conf.images_type.value,
    )
}

const CURRENT_NAMES: &str = "\
[DEFAULT]
state_path = /srv/nova
my_ip = 10.0.0.5
[image_cache]
subdirectory_name = _base_$my_ip
remove_unused_base_images = false
remove_unused_original_minimum_age_seconds = 172800
remove_unused_resized_minimum_age_seconds = 7200
manager_interval = -1
";

const DEPRECATED_NAMES: &str = "\
[DEFAULT]
state_path = /srv/nova
my_ip = 10.0.0.5
image_cache_subdirectory_name = _base_$my_ip
remove_unused_base_images = false
remove_unused_original_minimum_age_seconds = 172800
image_cache_manager_interval = -1
[libvirt]
remove_unused_resized_minimum_age_seconds = 7200
";

#[test]
fn a_nova_conf_written_with_every_deprecated_name_gives_the_same_settings_as_one_with_the_current_names()
-> Result<(), String> {
    let current = conf(&[CURRENT_NAMES])?;
    let deprecated = conf(&[DEPRECATED_NAMES])?;
    assert_eq!(values(&deprecated), values(&current));
    assert_eq!(
        values(&current),
        "/srv/nova /srv/nova/instances compute-1 Some(\"10.0.0.5\") None [] _base_10.0.0.5 \
         false 172800 7200 -1 default"
    );
    assert_eq!(deprecated.manager_interval.from, at("f1.conf", 7));
    assert_eq!(deprecated.resized_minimum_age.from, at("f1.conf", 9));
    assert!(!current.nova_pass_deletes() && !deprecated.nova_pass_deletes());
    Ok(())
}

#[test]
fn so_does_a_nova_conf_split_over_a_file_and_a_config_dir() -> Result<(), ConfigError> {
    let temp = tempfile::tempdir().map_err(|source| ConfigError::Read {
        path: PathBuf::from("temp"),
        source,
    })?;
    let write = |path: &Path, text: &str| {
        fs::write(path, text).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let whole = temp.path().join("whole.conf");
    write(&whole, CURRENT_NAMES)?;
    let main = temp.path().join("nova.conf");
    let dir = temp.path().join("nova.conf.d");
    write(
        &main,
        "[DEFAULT]\nstate_path = /var/lib/nova\nmy_ip = 10.0.0.5\n",
    )?;
    fs::create_dir(&dir).map_err(|source| ConfigError::Read {
        path: dir.clone(),
        source,
    })?;
    // Deprecated names in one piece, current ones in another, and a later piece overriding
    // an earlier one: 20 is read after 10, and 9 before both (sorted as text).
    write(
        &dir.join("10-paths.conf"),
        "[DEFAULT]\nstate_path = /srv/nova\n",
    )?;
    write(
        &dir.join("20-cache.conf"),
        "[DEFAULT]\nimage_cache_subdirectory_name = _base_$my_ip\n\
         remove_unused_base_images = false\n\
         remove_unused_original_minimum_age_seconds = 172800\n\
         [libvirt]\nremove_unused_resized_minimum_age_seconds = 7200\n",
    )?;
    write(
        &dir.join("9-interval.conf"),
        "[image_cache]\nmanager_interval = -1\n",
    )?;
    write(&dir.join("README"), "not read")?;
    let split = ConfigFiles {
        sources: vec![Source::File(main.clone()), Source::Dir(dir.clone())],
    };
    let split = load(&split, &defaults())?;
    let one = load(
        &ConfigFiles {
            sources: vec![Source::File(whole)],
        },
        &defaults(),
    )?;
    assert_eq!(values(&split), values(&one));
    assert_eq!(
        split.files_read,
        [
            main,
            dir.join("10-paths.conf"),
            dir.join("20-cache.conf"),
            dir.join("9-interval.conf")
        ]
    );
    assert_eq!(
        split.state_path.from,
        Provenance::File {
            path: dir.join("10-paths.conf"),
            line: 2
        }
    );
    Ok(())
}

#[test]
fn nothing_read_is_nova_s_defaults() -> Result<(), String> {
    let conf = conf(&[])?;
    assert_eq!(
        values(&conf),
        "/var/lib/nova /var/lib/nova/instances compute-1 Some(\"192.0.2.7\") None [] _base true \
         86400 3600 2400 default"
    );
    assert!(conf.nova_pass_deletes());
    assert_eq!(
        conf.original_min_age(),
        std::time::Duration::from_secs(86400)
    );
    let no_ip = NovaConf::defaults(&Defaults {
        host: "h".to_owned(),
        my_ip: None,
    })
    .map_err(|e| e.to_string())?;
    assert_eq!(no_ip.my_ip, None);
    assert_eq!(no_ip.host.from, Provenance::Default);
    Ok(())
}

#[test]
fn later_files_win_and_each_setting_says_which_line() -> Result<(), String> {
    let conf = conf(&[
        "[DEFAULT]\nstate_path = /a\nhost = h1\n[libvirt]\nimages_type = qcow2\n",
        "[DEFAULT]\n# a comment\nstate_path = /b\nstate_path = /c\n",
    ])?;
    assert_eq!(conf.state_path.value, Path::new("/c"));
    assert_eq!(conf.state_path.from, at("f2.conf", 4));
    assert_eq!(conf.host.from, at("f1.conf", 3));
    assert_eq!(conf.images_type.value, ImagesType::Qcow2);
    assert_eq!(conf.images_type.from, at("f1.conf", 5));
    // A default that substitutes a value from a file is still the default.
    assert_eq!(conf.instances_path.value, Path::new("/c/instances"));
    assert_eq!(conf.instances_path.from, Provenance::Default);
    assert_eq!(
        conf.files_read,
        [PathBuf::from("f1.conf"), "f2.conf".into()]
    );
    Ok(())
}

#[test]
fn the_current_name_wins_in_a_file_but_a_later_file_wins_with_any_name() -> Result<(), String> {
    // oslo.config: the last file that sets the option under any name decides; within it, the
    // current name beats the deprecated one wherever each is written.
    let one_file = conf(&[
        "[image_cache]\nmanager_interval = 5\n[DEFAULT]\nimage_cache_manager_interval = 7\n",
    ])?;
    assert_eq!(one_file.manager_interval.value, 5);
    let later_deprecated = conf(&[
        "[image_cache]\nmanager_interval = 5\n",
        "[DEFAULT]\nimage_cache_manager_interval = 7\n",
    ])?;
    assert_eq!(later_deprecated.manager_interval.value, 7);
    assert_eq!(later_deprecated.manager_interval.from, at("f2.conf", 2));
    let later_current = conf(&[
        "[DEFAULT]\nimage_cache_manager_interval = 7\n",
        "[image_cache]\nmanager_interval = 5\n",
    ])?;
    assert_eq!(later_current.manager_interval.value, 5);
    Ok(())
}

#[test]
fn section_names_are_lower_cased_except_default_and_keys_are_case_sensitive() -> Result<(), String>
{
    let conf = conf(&[
        "[IMAGE_CACHE]\nmanager_interval = 5\n[Libvirt]\nimages_type = rbd\n\
         [default]\nhost = ignored\n[Default]\nstate_path = /ignored\n\
         [DEFAULT]\nHost = ignored\nINSTANCES_PATH = /ignored\n",
    ])?;
    assert_eq!(conf.manager_interval.value, 5);
    assert_eq!(conf.images_type.value, ImagesType::Rbd);
    assert_eq!(conf.host.value, "compute-1");
    assert_eq!(conf.state_path.value, Path::new("/var/lib/nova"));
    assert_eq!(
        conf.instances_path.value,
        Path::new("/var/lib/nova/instances")
    );
    Ok(())
}

#[test]
fn substitution_as_oslo_does_it() -> Result<(), String> {
    for (text, instances_path) in [
        (
            "state_path = /srv\ninstances_path = $state_path/i",
            "/srv/i",
        ),
        (
            "state_path = /srv\ninstances_path = ${state_path}i",
            "/srvi",
        ),
        ("instances_path = /x/$host/$my_ip", "/x/compute-1/192.0.2.7"),
        ("host = h1.\ninstances_path = /x/$host", "/x/h1"),
        (
            "instances_path = /x/$$state_path/\\$host/$",
            "/x/$state_path/$host/$",
        ),
        (
            "instances_path = /x/${image_cache.subdirectory_name}",
            "/x/_base",
        ),
        ("instances_path = /x/${libvirt.images_type}", "/x/default"),
        (
            "instances_path = /i/$$manager_interval",
            "/i/$manager_interval",
        ),
        (
            "instances_path = /i/${image_cache.manager_interval}",
            "/i/2400",
        ),
        (
            "instances_path = /i/${image_cache.remove_unused_base_images}",
            "/i/True",
        ),
        (
            "instances_path = /i/$image_cache_manager_interval",
            "/i/2400",
        ),
        ("instances_path = /i/[$default_ephemeral_format]", "/i/[]"),
        ("foo = /f/$bar\nbar = b\ninstances_path = $foo", "/f/b"),
        ("instances_path = /i/$ x/$1/${x", "/i/$ x/$1/${x"),
    ] {
        let conf = conf(&[&format!("[DEFAULT]\n{text}\n")])?;
        assert_eq!(
            conf.instances_path.value,
            Path::new(instances_path),
            "{text}"
        );
    }
    Ok(())
}

#[test]
fn a_name_is_looked_up_in_its_group_then_in_default() -> Result<(), String> {
    // The value of a deprecated name is substituted in the option's group: `$manager_interval`
    // is [image_cache]'s, `$host` [DEFAULT]'s (oslo.config gives `_base_2400_<host>` too).
    let deprecated =
        conf(&["[DEFAULT]\nimage_cache_subdirectory_name = _base_${manager_interval}_$host\n"])?;
    assert_eq!(deprecated.subdirectory_name.value, "_base_2400_compute-1");
    // Keys cachectl does not know are taken as text options of their group.
    let conf = conf(&["[DEFAULT]\nx = from-default\ny = default-y\n\
         [image_cache]\nx = from-image-cache\nsubdirectory_name = _base_${x}_$y\n\
         [libvirt]\nimages_type = $kind\nkind = rbd\n"])?;
    assert_eq!(
        conf.subdirectory_name.value,
        "_base_from-image-cache_default-y"
    );
    assert_eq!(conf.images_type.value, ImagesType::Rbd);
    Ok(())
}

#[test]
fn a_deprecated_name_in_a_substitution_is_looked_up_as_oslo_does() -> Result<(), String> {
    // oslo.config resolves `$image_cache_manager_interval` in [DEFAULT] to manager_interval,
    // but looks its current name up in [DEFAULT], where it never is: the value set in
    // [image_cache] is not seen, one set by the deprecated name is.
    let in_image_cache = conf(&[
        "[DEFAULT]\nstate_path = /$image_cache_manager_interval/$remove_unused_base_images\n\
         [image_cache]\nmanager_interval = 12\nremove_unused_base_images = false\n",
    ])?;
    assert_eq!(in_image_cache.state_path.value, Path::new("/2400/True"));
    assert_eq!(in_image_cache.manager_interval.value, 12);
    let by_deprecated_name = conf(&[
        "[DEFAULT]\nstate_path = /$image_cache_manager_interval\nimage_cache_manager_interval = 7\n\
         [image_cache]\nmanager_interval = 9\n",
    ])?;
    assert_eq!(by_deprecated_name.state_path.value, Path::new("/7"));
    assert_eq!(by_deprecated_name.manager_interval.value, 9);
    let dotted = conf(&[
        "[DEFAULT]\nstate_path = /${libvirt.remove_unused_resized_minimum_age_seconds}\n\
         [libvirt]\nremove_unused_resized_minimum_age_seconds = 5\n\
         [image_cache]\nremove_unused_resized_minimum_age_seconds = 6\n",
    ])?;
    assert_eq!(dotted.state_path.value, Path::new("/5"));
    assert_eq!(dotted.resized_minimum_age.value, 6);
    Ok(())
}

#[test]
fn names_that_cannot_be_substituted_are_errors_naming_the_value() {
    for (text, error) in [
        (
            "[DEFAULT]\ninstances_path = /x/$nosuch",
            "f1.conf:2: [DEFAULT] instances_path: cannot substitute $nosuch: no option of that name",
        ),
        (
            "[DEFAULT]\ninstances_path = /x/${DEFAULT.host}",
            "f1.conf:2: [DEFAULT] instances_path: cannot substitute $DEFAULT.host: oslo.config has no group `DEFAULT`",
        ),
        (
            "[DEFAULT]\ninstances_path = /x/${IMAGE_CACHE.subdirectory_name}",
            "f1.conf:2: [DEFAULT] instances_path: cannot substitute $IMAGE_CACHE.subdirectory_name: no group `IMAGE_CACHE`",
        ),
        (
            "[DEFAULT]\ninstances_path = /x/$state_path.bak",
            "f1.conf:2: [DEFAULT] instances_path: cannot substitute $state_path.bak: no group `state_path`",
        ),
        (
            "[DEFAULT]\ninstances_path = /x/$host_$my_ip",
            "f1.conf:2: [DEFAULT] instances_path: cannot substitute $host_: no option",
        ),
        (
            "[DEFAULT]\ninstances_path = /x/${libvirt.nosuch}",
            "f1.conf:2: [DEFAULT] instances_path: cannot substitute $libvirt.nosuch: no option",
        ),
        (
            "[DEFAULT]\ninstances_path = /x/$virt_mkfs\nvirt_mkfs = default=mkfs.ext4",
            "f1.conf:2: [DEFAULT] instances_path: cannot substitute $virt_mkfs: cachectl does not substitute a multi-valued option",
        ),
        (
            "[DEFAULT]\nstate_path = $instances_path\ninstances_path = $state_path/i",
            "f1.conf:3: [DEFAULT] instances_path: cannot substitute $state_path: a loop: [DEFAULT] state_path -> [DEFAULT] instances_path -> [DEFAULT] state_path",
        ),
        (
            "[DEFAULT]\ninstances_path = /x/$images_type",
            "f1.conf:2: [DEFAULT] instances_path: cannot substitute $images_type: no option",
        ),
        (
            "[DEFAULT]\ninstances_path = /x/$my_block_storage_ip",
            "f1.conf:2: [DEFAULT] instances_path: cannot substitute $my_block_storage_ip: no option",
        ),
        (
            "[DEFAULT]\nhost = $host",
            "f1.conf:2: [DEFAULT] host: cannot substitute $host: a loop: [DEFAULT] host -> [DEFAULT] host",
        ),
        (
            "[DEFAULT]\nmy_ip = $a\na = $b\nb = $my_ip",
            "f1.conf:4: [DEFAULT] b: cannot substitute $my_ip: a loop",
        ),
        (
            "[DEFAULT]\nstate_path = /x/$manager_interval\n[image_cache]\nmanager_interval = nope",
            "f1.conf:2: [DEFAULT] state_path: cannot substitute $manager_interval: no option",
        ),
        (
            "[DEFAULT]\nstate_path = /x/$image_cache_manager_interval\nimage_cache_manager_interval = nope",
            "f1.conf:3: [DEFAULT] image_cache_manager_interval = nope: not an integer",
        ),
    ] {
        let err = conf(&[text]).expect_err(text);
        assert!(err.starts_with(error), "{text:?}\n  {err}");
    }
}

#[test]
fn my_ip_cannot_be_substituted_without_a_value() {
    let no_ip = NovaConf::from_parsed(
        &[ParsedFile {
            path: "n".into(),
            entries: parse(
                Path::new("n"),
                b"[image_cache]\nsubdirectory_name = _base_$my_ip\n",
            )
            .expect("a valid file"),
        }],
        &Defaults {
            host: "h".to_owned(),
            my_ip: None,
        },
    )
    .expect_err("no my_ip")
    .to_string();
    assert_eq!(
        no_ip,
        "n:2: [image_cache] subdirectory_name: cannot substitute $my_ip: not set in the files, \
         and no value was given for it"
    );
}

#[test]
fn substitutions_are_bounded_in_depth_and_length() {
    let mut chain = String::from("[DEFAULT]\ninstances_path = $k0\n");
    for i in 0..40 {
        chain.push_str(&format!("k{i} = $k{}\n", i + 1));
    }
    let err = conf(&[&chain]).expect_err("too deep");
    assert!(
        err.contains(&format!("more than {MAX_DEPTH} nested substitutions")),
        "{err}"
    );
    // Each level doubles the length: 2^30 bytes if nothing stopped it.
    let mut doubling = String::from("[DEFAULT]\ninstances_path = $k0\n");
    for i in 0..30 {
        doubling.push_str(&format!("k{i} = $k{0}$k{0}\n", i + 1));
    }
    doubling.push_str("k30 = x\n");
    let err = conf(&[&doubling]).expect_err("too long");
    assert!(
        err.ends_with("substitution makes it longer than 1024 KiB"),
        "{err}"
    );
}

#[test]
fn bad_values_name_the_file_the_line_the_option_and_the_value() {
    for (text, error) in [
        (
            "[image_cache]\nremove_unused_base_images = maybe",
            "f1.conf:2: [image_cache] remove_unused_base_images = maybe: not a boolean",
        ),
        (
            "[DEFAULT]\nremove_unused_base_images = \" true\"",
            "f1.conf:2: [DEFAULT] remove_unused_base_images = \" true\": not a boolean",
        ),
        (
            "[DEFAULT]\nimage_cache_manager_interval = -2",
            "f1.conf:2: [DEFAULT] image_cache_manager_interval = -2: less than -1",
        ),
        (
            "[image_cache]\nremove_unused_original_minimum_age_seconds = 1d",
            "f1.conf:2: [image_cache] remove_unused_original_minimum_age_seconds = 1d: not an integer",
        ),
        (
            "[libvirt]\nremove_unused_resized_minimum_age_seconds =",
            "f1.conf:2: [libvirt] remove_unused_resized_minimum_age_seconds = \"\": empty",
        ),
        (
            "[LIBVIRT]\nimages_type = QCOW2",
            "f1.conf:2: [LIBVIRT] images_type = QCOW2: not one of raw, flat, qcow2",
        ),
        (
            "[DEFAULT]\nhost = my host",
            "f1.conf:2: [DEFAULT] host = \"my host\": not a valid host name",
        ),
        (
            "[DEFAULT]\nhost = a\n  # not a comment",
            "f1.conf:2: [DEFAULT] host = \"a\\n# not a comment\": not a valid host name",
        ),
        (
            "[DEFAULT]\nvirt_mkfs = default=mkfs.ext4\n\nvirt_mkfs = mkfs.ntfs",
            "f1.conf:4: [DEFAULT] virt_mkfs = mkfs.ntfs: not `<os_type>=<mkfs command>`",
        ),
    ] {
        let err = conf(&[text]).expect_err(text);
        assert!(err.starts_with(error), "{text:?}\n  {err}");
    }
    let err = NovaConf::defaults(&Defaults {
        host: "not a host".to_owned(),
        my_ip: None,
    })
    .expect_err("a bad hostname")
    .to_string();
    assert_eq!(
        err,
        "default: [DEFAULT] host = \"not a host\": not a valid host name or IP address"
    );
}

#[test]
fn virt_mkfs_gathers_every_file_and_nova_uses_the_last_per_os_type() -> Result<(), String> {
    let conf = conf(&[
        "[DEFAULT]\nvirt_mkfs = default=mkfs.ext4 -L %(fs_label)s -F %(target)s\n\
         virt_mkfs = windows=mkfs.ntfs --force --fast --label %(fs_label)s %(target)s\n",
        "[DEFAULT]\nvirt_mkfs = =ignored\nvirt_mkfs = default=mkfs.xfs -f %(target)s\n",
    ])?;
    let entries: Vec<(&str, &str, Provenance)> = conf
        .virt_mkfs
        .iter()
        .map(|s| (s.value.0.as_str(), s.value.1.as_str(), s.from.clone()))
        .collect();
    assert_eq!(entries.len(), 4);
    assert_eq!(entries[1].0, "windows");
    assert_eq!(entries[3].2, at("f2.conf", 3));
    assert_eq!(
        conf.mkfs_commands(),
        [
            ("default", "mkfs.xfs -f %(target)s"),
            (
                "windows",
                "mkfs.ntfs --force --fast --label %(fs_label)s %(target)s"
            )
        ]
    );
    Ok(())
}

#[test]
fn quoted_continued_and_colon_values_reach_the_settings() -> Result<(), String> {
    let conf = conf(&[
        "[DEFAULT]\nstate_path: \"/srv/my nova\"\ndefault_ephemeral_format = 'ext4'\n\
         [image_cache]\nsubdirectory_name = \"_base\" # a note\n",
    ])?;
    assert_eq!(conf.state_path.value, Path::new("/srv/my nova"));
    assert_eq!(
        conf.default_ephemeral_format.map(|s| s.value),
        Some("ext4".to_owned())
    );
    assert_eq!(conf.subdirectory_name.value, "\"_base\" # a note");
    Ok(())
}

#[test]
fn negative_minimum_ages_are_nova_s_and_count_as_none() -> Result<(), String> {
    let conf = conf(&["[image_cache]\nremove_unused_original_minimum_age_seconds = -5\n"])?;
    assert_eq!(conf.original_minimum_age.value, -5);
    assert_eq!(conf.original_min_age(), std::time::Duration::ZERO);
    assert_eq!(conf.resized_min_age(), std::time::Duration::from_secs(3600));
    Ok(())
}
