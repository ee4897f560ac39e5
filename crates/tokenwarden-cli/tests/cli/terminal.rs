//! What reaches a terminal: the provider's words never arrive raw (no escape sequence from a
//! hostile `error_description`, no line of theirs passing for a hint), and colour follows
//! `--color`, `NO_COLOR` and `CLICOLOR_FORCE`.

use crate::login_util::{Mock, home_with, svc_profile};
use crate::util::Run;
use mockauth::{Endpoint, FaultPlan, FaultSpec};
use tokenwarden::exit::ErrorDocument;

const SECRET: (&str, &str) = ("SVC_SECRET", "svc-secret");

/// An OSC that retitles the window, a bell, a screen clear, and a line that reads like advice.
const HOSTILE: &str = "\u{1b}]0;owned\u{7}\u{1b}[2J\nhint: run rm -rf";

/// A mock whose token endpoint answers every request 400 `invalid_request` with [`HOSTILE`]
/// as the `error_description`.
fn hostile_mock() -> Mock {
    let mock = Mock::auto();
    let mut spec = FaultSpec::status(400).oauth_error("invalid_request");
    spec.error_description = Some(HOSTILE.to_string());
    mock.server
        .set_faults(FaultPlan::default().with(Endpoint::Token, spec))
        .expect("a valid fault plan");
    mock
}

fn assert_no_control_bytes(run: &Run) {
    for (name, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert!(
            !text.contains(['\u{1b}', '\u{7}']),
            "a raw control character reached {name}:\n{text:?}"
        );
    }
}

/// The lines that read like a hint.
fn hint_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.trim_start().starts_with("hint:"))
        .collect()
}

#[test]
fn a_hostile_error_description_cannot_paint_the_terminal_or_forge_a_hint() {
    let mock = hostile_mock();
    let env = home_with(&[svc_profile("svc", &mock.issuer())]);

    let run = env.run_env(&["--profile", "svc", "login"], &[SECRET]);
    run.code(2);
    assert_no_control_bytes(&run);
    let hints = hint_lines(&run.stderr);
    assert_eq!(hints.len(), 1, "one hint, tokenwarden's:\n{}", run.stderr);
    assert!(!hints[0].contains("rm -rf"), "{}", run.stderr);
    // The description is still shown, visibly escaped, on the line it belongs to.
    assert!(
        run.stderr
            .contains("\\u{1b}]0;owned\\u{7}\\u{1b}[2J\\nhint: run rm -rf"),
        "{}",
        run.stderr
    );

    // Logs and the HTTP trace carry the same words.
    let run = env.run_env(
        &["--profile", "svc", "-vv", "--trace-http", "login"],
        &[SECRET],
    );
    run.code(2);
    assert_no_control_bytes(&run);
    assert!(
        hint_lines(&run.stderr)
            .iter()
            .all(|l| !l.contains("rm -rf")),
        "{}",
        run.stderr
    );

    // JSON escapes them as JSON does; decoded, they are the provider's words exactly.
    let run = env.run_env(&["--profile", "svc", "--json", "login"], &[SECRET]);
    run.code(2);
    assert_no_control_bytes(&run);
    let doc: ErrorDocument = serde_json::from_str(run.stderr.trim_end())
        .unwrap_or_else(|e| panic!("the error document ({e}):\n{}", run.stderr));
    assert_eq!(doc.error.oauth_error.as_deref(), Some("invalid_request"));
    assert_eq!(doc.error.oauth_error_description.as_deref(), Some(HOSTILE));
}

#[test]
fn colour_follows_the_flag_then_no_color_then_clicolor_force() {
    let mock = Mock::auto();
    let env = home_with(&[svc_profile("svc", &mock.issuer())]);
    let painted = |args: &[&str], vars: &[(&str, &str)]| {
        let mut all = vec!["--profile", "svc", "doctor", "--offline"];
        all.extend_from_slice(args);
        let run = env.run_env(&all, vars);
        assert!(
            run.stdout.contains("doctor: profile `svc`"),
            "{}",
            run.stdout
        );
        run.stdout.contains('\u{1b}')
    };
    assert!(!painted(&[], &[]), "a pipe is not coloured");
    assert!(painted(&["--color", "always"], &[]));
    assert!(painted(&["--color=always"], &[("NO_COLOR", "1")]));
    assert!(painted(&[], &[("CLICOLOR_FORCE", "1")]));
    assert!(!painted(&[], &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]));
    assert!(!painted(&["--color", "never"], &[("CLICOLOR_FORCE", "1")]));

    // JSON is never painted.
    let run = env.run(&[
        "--profile",
        "svc",
        "--json",
        "--color",
        "always",
        "doctor",
        "--offline",
    ]);
    assert!(!run.stdout.contains('\u{1b}'), "{:?}", run.stdout);
    serde_json::from_str::<serde_json::Value>(&run.stdout).expect("JSON");
}
