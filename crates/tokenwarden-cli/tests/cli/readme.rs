//! The README's "Use from other programs" section runs as written: every `sh` block in it, in
//! order, in one shell, on a fresh TOKENWARDEN_HOME and HOME, with the binary on PATH. The
//! first block starts `tokenwarden mock-server` and logs in; the others are the examples (curl,
//! request, env, exec, a helper command, git, kubectl's ExecCredential, status).

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The `sh` blocks of the README section whose heading is `heading`.
fn sh_blocks(readme: &str, heading: &str) -> Vec<String> {
    let start = readme
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("the README has no `{heading}` section"));
    let rest = &readme[start + heading.len() + 2..];
    let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    let mut blocks = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "```sh" {
            let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
            blocks.push(block.join("\n"));
        }
    }
    blocks
}

#[test]
fn use_from_other_programs_examples_run() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .expect("the README");
    let blocks = sh_blocks(&readme, "## Use from other programs");
    assert!(blocks.len() >= 8, "{} sh blocks", blocks.len());
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("tw");
    std::fs::create_dir(&home).expect("mkdir");
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    }
    let bin = Path::new(env!("CARGO_BIN_EXE_tokenwarden"));
    let path = format!(
        "{}:{}",
        bin.parent().expect("a directory").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = format!("set -e\n{}\n", blocks.join("\n"));
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", path)
        .env("HOME", dir.path())
        .env("TOKENWARDEN_HOME", &home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("sh runs");
    let pgid = i32::try_from(child.id()).expect("a pid");
    let out = std::thread::spawn({
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        move || {
            let read = |p: Option<Box<dyn std::io::Read + Send>>| {
                let mut s = String::new();
                if let Some(mut p) = p {
                    let _ = p.read_to_string(&mut s);
                }
                s
            };
            let err = std::thread::spawn(move || {
                read(stderr.map(|e| Box::new(e) as Box<dyn std::io::Read + Send>))
            });
            let o = read(stdout.map(|o| Box::new(o) as Box<dyn std::io::Read + Send>));
            (o, err.join().unwrap_or_default())
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Whatever the script left running (the mock server on a failure) ends with it.
    // SAFETY: kill(2) on the process group this test created.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    let _ = child.wait();
    let (stdout, stderr) = out.join().expect("output");
    let status =
        status.unwrap_or_else(|| panic!("the examples did not finish:\n{stdout}\n{stderr}"));
    assert!(
        status.success(),
        "the examples failed:\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for shown in [
        "\"expires_on\":",
        "\"status\":200",
        "password=",
        "username=oauth2",
        "\"kind\":\"ExecCredential\"",
        "no key, and nothing on stdout",
    ] {
        assert!(
            stdout.contains(shown),
            "{shown} not in:\n{stdout}\nstderr:\n{stderr}"
        );
    }
}

#[test]
fn the_readme_lists_every_profile_key() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .expect("the README");
    let start = readme
        .find("\n## Configuration\n")
        .expect("a Configuration section");
    let section = &readme[start..];
    let section = &section[..section[1..].find("\n## ").map_or(section.len(), |i| i + 1)];
    let env = crate::util::Env::new();
    let keys = env.run(&["--json", "profile", "keys"]);
    let keys: Vec<serde_json::Value> = serde_json::from_str(&keys.stdout).expect("JSON");
    let missing: Vec<&str> = keys
        .iter()
        .filter_map(|k| k["name"].as_str())
        .filter(|name| !section.contains(&format!("`{name}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "the README's key table lacks {missing:?}"
    );
}
