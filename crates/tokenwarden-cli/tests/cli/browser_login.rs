//! A real browser logs in: `login` (without `--no-browser`) opens the authorization URL with
//! `$BROWSER`, here a script that drives headless Chromium. The script takes a screenshot of
//! mockauth's consent page (auto-approve is off), reads its form, and has Chromium submit
//! that form's Approve; Chromium follows the redirect to the loopback callback, which
//! completes the login, and the script takes a screenshot of the callback page. Both
//! screenshots stay in the test's output directory (`browser-login/` under Cargo's
//! `CARGO_TARGET_TMPDIR`).
//!
//! Chromium is a Debian package (`chromium`); without it the test is skipped with a message,
//! except under `CI=true`, where it fails.

use crate::kubectl::have;
use crate::login::{Mock, home_with, web_profile};
use crate::sessions::P;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Chromium as root in a container: no sandbox, no GPU, nothing fetched in the background, a
/// fresh profile each run.
const CHROMIUM: &str = "chromium --headless --no-sandbox --disable-gpu \
--disable-background-networking --disable-component-update --disable-sync --no-first-run \
--disable-dev-shm-usage --window-size=900,700";

/// The `$BROWSER` script: consent page screenshot, its form read, Approve submitted by the
/// browser, callback page screenshot.
fn browser_script(out: &Path) -> String {
    let out = out.display();
    format!(
        r#"#!/bin/sh
url="$1"
out="{out}"
printf '%s\n' "$url" > "$out/url.txt"
{CHROMIUM} --user-data-dir="$out/p1" --screenshot="$out/consent.png" "$url" > "$out/chromium-1.log" 2>&1
{CHROMIUM} --user-data-dir="$out/p2" --dump-dom "$url" > "$out/consent.html" 2> "$out/chromium-2.log"
consent=$(sed -n 's/.*name="consent" value="\([^"]*\)".*/\1/p' "$out/consent.html")
action=$(sed -n 's/.*<form method="post" action="\([^"]*\)".*/\1/p' "$out/consent.html")
origin=$(printf '%s' "$url" | sed 's|^\(https*://[^/]*\).*|\1|')
cat > "$out/approve.html" <<HTML
<!doctype html><html><body><form method="post" action="$origin$action">
<input type="hidden" name="consent" value="$consent">
<input type="hidden" name="decision" value="approve"></form>
<script>document.forms[0].submit()</script></body></html>
HTML
{CHROMIUM} --user-data-dir="$out/p3" --virtual-time-budget=10000 --screenshot="$out/callback.png" "file://$out/approve.html" > "$out/chromium-3.log" 2>&1
echo done > "$out/browser-done"
"#
    )
}

fn is_png(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| b.len() > 1000 && b.starts_with(b"\x89PNG"))
}

#[test]
fn a_headless_chromium_logs_in_through_the_consent_page() {
    if !have("chromium", &["--version"], "chromium") {
        return;
    }
    let mock = Mock::start(mockauth::Config::default());
    let env = home_with(&[web_profile(P, &mock.issuer())]);
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-login");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).expect("mkdir");
    let script = out.join("browser.sh");
    std::fs::write(&script, browser_script(&out)).expect("write");
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let mut child = env
        .cmd()
        .args(["--profile", P, "login", "--timeout", "120s"])
        .env("BROWSER", &script)
        .env("HOME", &out)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("login starts");
    let deadline = Instant::now() + Duration::from_secs(150);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("login did not finish; see {}", out.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The script's last screenshot may still be written after the callback completed login.
    let done = out.join("browser-done");
    while !done.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "screenshots: {} and {}",
        out.join("consent.png").display(),
        out.join("callback.png").display()
    );
    assert!(status.success(), "login: {stderr}");
    assert!(!stderr.contains("could not open a browser"), "{stderr}");
    let consent = std::fs::read_to_string(out.join("consent.html")).unwrap_or_default();
    assert!(consent.contains("Authorize application"), "{consent}");
    assert!(is_png(&out.join("consent.png")), "no consent screenshot");
    assert!(is_png(&out.join("callback.png")), "no callback screenshot");
    env.run(&["--profile", P, "status"]).code(0);
}
