//! Error rendering and the one place that maps errors to process exit codes.
//!
//! Exit codes (DESIGN.md): 0 success, 1 other/protocol, 2 usage/config, 3 login required,
//! 4 provider unavailable, 5 session rejected, 6 store.

/// Prints `err` on stderr (one JSON object with `--json`) and returns the exit code.
pub fn report(err: &anyhow::Error, json: bool) -> u8 {
    if let Some(e) = err.downcast_ref::<tokenwarden::Error>() {
        if json {
            eprintln!("{}", e.to_json());
        } else {
            eprintln!("{}", e.report());
        }
        return e.kind().exit_code();
    }
    if json {
        eprintln!(
            "{}",
            serde_json::json!({"error": {"kind": "other", "message": format!("{err:#}")}})
        );
    } else {
        eprintln!("error: {err:#}");
    }
    1
}
