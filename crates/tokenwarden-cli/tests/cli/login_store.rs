//! The token store as `login` and `token` meet it: loose permissions, a corrupt database and a
//! changed key each end with exit 6 and say what to do; nothing is silently dropped, and the
//! next run works once the cause is gone.

use crate::login_util::{Mock, home_with, svc_profile};
use crate::util::Env;

const SECRET: (&str, &str) = ("SVC_SECRET", "svc-secret");

/// A home with the `svc` profile, logged in (client credentials: no browser needed).
fn logged_in(mock: &Mock, key: Option<&str>) -> Env {
    let env = home_with(&[svc_profile("svc", &mock.issuer())]);
    let mut vars = vec![SECRET];
    if let Some(k) = key {
        vars.push(("TOKENWARDEN_KEY", k));
    }
    env.run_env(&["--profile", "svc", "login"], &vars).code(0);
    env
}

fn token(env: &Env, key: Option<&str>) -> crate::util::Run {
    let mut vars = vec![SECRET];
    if let Some(k) = key {
        vars.push(("TOKENWARDEN_KEY", k));
    }
    env.run_env(&["--profile", "svc", "token"], &vars)
}

#[cfg(unix)]
fn chmod(p: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[cfg(unix)]
#[test]
fn loose_permissions_are_refused_with_the_chmod_to_run() {
    let mock = Mock::auto();
    let env = logged_in(&mock, None);
    let db = env.home().join("tokens.db");
    assert_eq!(crate::util::mode(&db), 0o600);
    chmod(&db, 0o644);
    let run = token(&env, None);
    run.code(6);
    assert!(run.stderr.contains("chmod 600"), "{}", run.stderr);
    assert!(
        run.stderr.contains(&db.display().to_string()),
        "{}",
        run.stderr
    );
    // login refuses too, before anything is asked of the provider.
    let before = mock.server.stats().token_requests.total();
    env.run_env(&["--profile", "svc", "login"], &[SECRET])
        .code(6);
    assert_eq!(mock.server.stats().token_requests.total(), before);
    chmod(&db, 0o600);
    token(&env, None).code(0);

    chmod(&env.home(), 0o755);
    let run = token(&env, None);
    run.code(6);
    assert!(run.stderr.contains("chmod 700"), "{}", run.stderr);
    chmod(&env.home(), 0o700);
    token(&env, None).code(0);
}

#[test]
fn a_corrupt_database_is_set_aside_and_named_and_the_next_run_works() {
    let mock = Mock::auto();
    let env = logged_in(&mock, None);
    let db = env.home().join("tokens.db");
    for side in ["tokens.db-wal", "tokens.db-shm"] {
        let _ = std::fs::remove_file(env.home().join(side));
    }
    std::fs::write(&db, vec![0x5a_u8; 8192]).expect("overwrite");
    let run = token(&env, None);
    run.code(6);
    let set_aside: Vec<_> = std::fs::read_dir(env.home())
        .expect("home")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("tokens.db.corrupt-"))
        .collect();
    assert_eq!(set_aside.len(), 1, "{set_aside:?}");
    assert!(
        run.stderr.contains(&set_aside[0]),
        "names the path: {}",
        run.stderr
    );
    // Nothing stored any more: login required; then a login works again.
    token(&env, None).code(3);
    env.run_env(&["--profile", "svc", "login"], &[SECRET])
        .code(0);
    token(&env, None).code(0);
}

#[test]
fn a_changed_key_is_refused_and_the_right_key_still_works() {
    let mock = Mock::auto();
    let env = logged_in(&mock, Some("first passphrase"));
    let before = token(&env, Some("first passphrase"));
    before.code(0);
    let run = token(&env, Some("second passphrase"));
    run.code(6);
    assert!(run.stderr.contains("TOKENWARDEN_KEY"), "{}", run.stderr);
    assert!(run.stderr.contains("hint:"), "{}", run.stderr);
    let after = token(&env, Some("first passphrase"));
    after.code(0);
    assert_eq!(after.stdout, before.stdout, "the tokens were kept");
}
