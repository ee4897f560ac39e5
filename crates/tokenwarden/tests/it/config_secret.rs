//! An inline `client_secret` in a `config.toml` that others may read is refused, with the
//! `chmod` that fixes it; in a private file it is only warned about.

#![cfg(unix)]

use std::os::unix::fs::PermissionsExt as _;
use tokenwarden::ErrorKind;
use tokenwarden::config::Config;

const INLINE: &str = "[profiles.svc]\ntoken_endpoint = \"https://id.example.com/token\"\nclient_id = \"svc\"\nclient_secret = \"s3cr3t-inline\"\n\n[profiles.pub]\ntoken_endpoint = \"https://id.example.com/token\"\nclient_id = \"cli\"\n";

fn written(dir: &tempfile::TempDir, text: &str, mode: u32) -> std::path::PathBuf {
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).expect("written");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    path
}

#[test]
fn a_readable_config_with_an_inline_secret_is_refused_with_the_chmod() {
    for mode in [0o644, 0o640, 0o604] {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = written(&dir, INLINE, mode);
        let config = Config::load_file(&path).expect("the file reads");
        let e = config.profile("svc").expect_err("refused");
        assert_eq!(e.kind(), ErrorKind::Config, "{}", e.report());
        assert_eq!(e.kind().exit_code().code(), 2);
        assert!(
            e.message().contains("inline client_secret") && e.message().contains("line 4"),
            "{}",
            e.message()
        );
        let want = format!("chmod 600 {}", path.display());
        assert!(
            e.hint().is_some_and(|h| h.contains(&want)),
            "no `{want}` in {:?}",
            e.hint()
        );
        assert!(!e.report().contains("s3cr3t"), "{}", e.report());
        // A profile of the same file without the secret is not refused.
        config.profile("pub").expect("no secret, no refusal");
    }
}

#[test]
fn a_private_config_with_an_inline_secret_is_only_warned_about() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = written(&dir, INLINE, 0o600);
    let loaded = Config::load_file(&path)
        .expect("reads")
        .profile("svc")
        .expect("accepted");
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.message.contains("inline client_secret")),
        "{:?}",
        loaded.warnings
    );
}
