//! `tokenwarden profile add/list/show/remove`: round trips, JSON output, secrets never shown,
//! and exit code 2 for every configuration problem.

use crate::util::Env;

const ISSUER: &str = "http://127.0.0.1:8080";

fn add_two(env: &Env) {
    env.run(&[
        "profile",
        "add",
        "alpha",
        "--issuer",
        ISSUER,
        "--client-id",
        "cli",
        "--redirect-uri",
        "http://127.0.0.1/callback",
        "--scope",
        "openid",
        "--scope",
        "offline_access",
    ])
    .code(0);
    env.run(&[
        "profile",
        "add",
        "beta",
        "--issuer",
        ISSUER,
        "--client-id",
        "svc",
        "--client-secret-env",
        "BETA_SECRET",
        "--client-auth",
        "client_secret_basic",
    ])
    .code(0);
}

#[test]
fn add_list_show_remove() {
    let env = Env::new();
    add_two(&env);
    #[cfg(unix)]
    {
        assert_eq!(crate::util::mode(&env.home()), 0o700);
        assert_eq!(crate::util::mode(&env.config()), 0o600);
    }
    let list = env.run(&["profile", "list", "--json"]);
    list.code(0);
    let v = list.json();
    let arr = v.as_array().expect("an array");
    assert_eq!(arr.len(), 2);
    assert_eq!(arr[0]["name"], "alpha");
    assert_eq!(arr[0]["provider"], "generic");
    assert_eq!(arr[0]["issuer"], ISSUER);
    assert_eq!(arr[1]["client_id"], "svc");
    assert_eq!(arr[1]["valid"], true);

    let text = env.run(&["profile", "list"]);
    text.code(0);
    assert!(text.stdout.contains("alpha") && text.stdout.contains("beta"));

    let show = env.run_env(
        &["profile", "show", "beta", "--json"],
        &[("BETA_SECRET", "supersecretvalue")],
    );
    show.code(0);
    assert!(!show.stdout.contains("supersecretvalue") && !show.stderr.contains("supersecretvalue"));
    let v = show.json();
    assert_eq!(v["client_secret"]["env_var"], "BETA_SECRET");
    assert_eq!(v["client_secret"]["available"], true);
    assert_eq!(v["client_auth"], "client_secret_basic");
    let show = env.run(&["profile", "show", "beta"]);
    show.code(0);
    assert!(
        show.stdout.contains("from $BETA_SECRET (not set)"),
        "{}",
        show.stdout
    );

    // --profile picks the default for show.
    env.run(&["--profile", "alpha", "profile", "show"]).code(0);

    env.run(&["profile", "remove", "alpha"]).code(0);
    let v = env.run(&["profile", "list", "--json"]).json();
    assert_eq!(v.as_array().map(Vec::len), Some(1));
    let gone = env.run(&["profile", "remove", "alpha"]);
    gone.code(2);
    assert!(
        gone.stderr.contains("no profile `alpha`"),
        "{}",
        gone.stderr
    );
}

#[test]
fn existing_profiles_need_force() {
    let env = Env::new();
    add_two(&env);
    let again = env.run(&[
        "profile",
        "add",
        "alpha",
        "--issuer",
        ISSUER,
        "--client-id",
        "x",
    ]);
    again.code(2);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
    env.run(&[
        "profile",
        "add",
        "alpha",
        "--issuer",
        ISSUER,
        "--client-id",
        "x",
        "--force",
    ])
    .code(0);
    assert!(env.read_config().contains("client_id = \"x\""));
}

#[test]
fn redirect_mismatch_and_unknown_keys_exit_2() {
    let env = Env::new();
    add_two(&env);
    let mut text = env.read_config();
    text.push_str(&format!(
        "\n[profiles.gamma]\nissuer = \"{ISSUER}\"\nclient_id = \"cli\"\n\
         redirect_uri = \"http://127.0.0.1/callback/\"\nregistered_redirect_uris = [\"http://127.0.0.1/callback\"]\n"
    ));
    env.write_config(&text);
    let r = env.run(&["profile", "show", "gamma"]);
    r.code(2);
    assert!(
        r.stderr.to_lowercase().contains("trailing slash"),
        "{}",
        r.stderr
    );

    env.write_config(&text.replace(
        "client_id = \"cli\"\nredirect",
        "clientid = \"cli\"\nredirect",
    ));
    let r = env.run(&["profile", "show", "gamma"]);
    r.code(2);
    assert!(
        r.stderr.contains("did you mean `client_id`?"),
        "{}",
        r.stderr
    );
    // The other profiles still work, and the listing marks gamma.
    env.run(&["profile", "show", "alpha"]).code(0);
    let v = env.run(&["profile", "list", "--json"]).json();
    assert_eq!(v[2]["valid"], false);

    let r = env.run(&["--json", "profile", "show", "gamma"]);
    r.code(2);
    let err: serde_json::Value =
        serde_json::from_str(r.stderr.trim()).expect("JSON error on stderr");
    assert_eq!(err["error"]["kind"], "config");
    assert_eq!(err["error"]["exit_code"], 2);
}

#[test]
fn an_invalid_profile_is_not_written() {
    let env = Env::new();
    let r = env.run(&[
        "profile",
        "add",
        "bad",
        "--issuer",
        "http://id.example.com",
        "--client-id",
        "c",
    ]);
    r.code(2);
    assert!(r.stderr.contains("plain http"), "{}", r.stderr);
    assert!(!env.config().exists(), "nothing written");
    let r = env.run(&[
        "profile",
        "add",
        "bad",
        "--issuer",
        ISSUER,
        "--client-id",
        "c",
        "--redirect-uri",
        "http://localhost/cb",
        "--registered-redirect-uri",
        "http://127.0.0.1/cb",
    ]);
    r.code(2);
    assert!(r.stderr.contains("`localhost`"), "{}", r.stderr);
    let r = env.run(&[
        "profile",
        "add",
        "bad",
        "--client-id",
        "c",
        "--token-request-format",
        "xml",
    ]);
    r.code(2);
}

#[test]
fn syntax_errors_and_missing_profiles_exit_2() {
    let env = Env::new();
    let r = env.run(&["profile", "show", "nope"]);
    r.code(2);
    assert!(r.stderr.contains("does not exist yet"), "{}", r.stderr);
    env.write_config("[profiles.a]\nclient_id = \"unterminated\n");
    let r = env.run(&["profile", "list"]);
    r.code(2);
    assert!(r.stderr.contains("line 2, column"), "{}", r.stderr);
}

#[test]
fn inline_secrets_warn_and_are_never_shown() {
    let env = Env::new();
    env.write_config(&format!(
        "# mine\n[profiles.a]\nissuer = \"{ISSUER}\"\nclient_id = \"c\"\nclient_secret = \"hunter2-inline\"\n"
    ));
    // Private, as `profile add` writes it (an inline secret in a file others may read is
    // refused: bad_answers.rs).
    #[cfg(unix)]
    std::fs::set_permissions(
        env.config(),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("chmod");
    let r = env.run(&["profile", "show", "a", "--json"]);
    r.code(0);
    let w: serde_json::Value = serde_json::from_str(r.stderr.trim()).expect("a JSON warning");
    assert!(
        w["warning"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("client_secret_env")),
        "{}",
        r.stderr
    );
    assert!(!r.stdout.contains("hunter2-inline") && !r.stderr.contains("hunter2-inline"));
    // Adding a profile keeps the user's comment.
    env.run(&[
        "profile",
        "add",
        "b",
        "--issuer",
        ISSUER,
        "--client-id",
        "c",
    ])
    .code(0);
    assert!(env.read_config().starts_with("# mine\n"));
}

#[test]
fn help_documents_every_flag() {
    let env = Env::new();
    let r = env.run(&["profile", "add", "--help"]);
    r.code(0);
    for flag in [
        "--client-id",
        "--issuer",
        "--token-endpoint",
        "--authorization-endpoint",
        "--device-authorization-endpoint",
        "--revocation-endpoint",
        "--provider",
        "--client-secret-env",
        "--scope",
        "--redirect-uri",
        "--registered-redirect-uri",
        "--token-request-format",
        "--client-auth",
        "--resource",
        "--force",
    ] {
        assert!(r.stdout.contains(flag), "--help lacks {flag}");
    }
}
