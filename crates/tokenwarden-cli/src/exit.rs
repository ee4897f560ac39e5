//! Error rendering and the one place that maps errors to process exit codes.
//!
//! Exit codes (DESIGN.md): 0 success, 1 other/protocol, 2 usage/config, 3 login required,
//! 4 provider unavailable, 5 session rejected, 6 store.

/// Prints `err` on stderr (one JSON object with `--json`) and returns the exit code. An error
/// that names no correlation id yet gets the command's, `corr`.
pub fn report(err: anyhow::Error, json: bool, corr: Option<&str>) -> u8 {
    let err = match err.downcast::<tokenwarden::Error>() {
        Ok(e) => {
            let e = match corr {
                Some(id) => e.with_correlation_id(id),
                None => e,
            };
            if json {
                eprintln!("{}", e.to_json());
            } else {
                eprintln!("{}", e.report());
            }
            return e.kind().exit_code();
        }
        Err(other) => other,
    };
    if json {
        eprintln!(
            "{}",
            serde_json::json!({"error": {"kind": "other", "message": format!("{err:#}"), "correlation_id": corr}})
        );
    } else {
        eprintln!("error: {err:#}");
        if let Some(id) = corr {
            eprintln!("  correlation id: {id}");
        }
    }
    1
}
