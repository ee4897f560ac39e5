//! `tokenwarden request`: calls an API with the profile's bearer token (and its
//! `resource_headers`, which `-H` overrides), like a small curl (`-X`, `-H`,
//! `-d`/`--data-binary`, `-i`, `-o`, `-s`, `-f`), and prints the response body.
//! A 401 makes it invalidate that token, refresh once and retry once; a second 401 is
//! "session rejected" (exit 5); a refusal's hint comes from the session
//! (`Session::refusal_hint`). Exit 0 on 2xx; another status prints the body and exits 1,
//! or with `--fail` prints no body and exits 22, as `curl -f` does.
//!
//! The `Authorization` header is tokenwarden's to send: a `-H 'Authorization: …'` is refused
//! before anything is sent. Sent beside the profile's token, a second Authorization header
//! makes most APIs answer 401, and that 401 would throw a good token away and end in "session
//! rejected"; replacing the profile's token silently would call the API as someone else.
//!
//! With `--json` the answer is one document, `{status, headers, body, body_base64}`.
//!
//! Before anything is sent, the library decides whether the token may go to the URL
//! ([`tokenwarden::http::destination`]: https or loopback, the profile's `resource` origin or
//! one given with `--allow-origin`); a refusal is a usage error (exit 2).
//!
//! A running agent gives the token when there is one.

use super::Global;
use super::context;
use crate::json;
use crate::output::Printer;
use anyhow::Result;
use std::collections::BTreeMap;
use std::io::Write as _;
use tokenwarden::exit::ExitCode;
use tokenwarden::http::destination::Destinations;
use tokenwarden::session::TokenSource as _;
use tokenwarden::{Error, ErrorKind};

/// The exit code of `--fail` when the API answers 400 or more (curl's
/// `CURLE_HTTP_RETURNED_ERROR`).
pub const FAIL_EXIT: u8 = 22;

/// Arguments of `tokenwarden request`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  tokenwarden request                                  # GET the profile's `resource`
  tokenwarden request -f -o me.json https://api.example.com/v1/me
  tokenwarden request -X POST -H 'Content-Type: application/json' --data-binary @body.json URL
  tokenwarden --json request URL | jq .status

The Authorization header is tokenwarden's: -H 'Authorization: …' is refused.
The token goes only over https (or plain http to loopback) and only to the origin of the
profile's `resource`; --allow-origin https://host[:port] adds one.")]
pub struct RequestArgs {
    /// The HTTP method.
    #[arg(short = 'X', long = "request", default_value = "GET")]
    method: String,
    /// A header `Name: value` (repeat for several). Not `Authorization`: tokenwarden sends it.
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,
    /// The request body (`@FILE` reads a file, `@-` standard input), sent as it is. Implies
    /// POST when -X is not given.
    #[arg(short = 'd', long = "data", value_name = "DATA")]
    data: Option<String>,
    /// The same as --data (bytes sent as they are; curl's name for it).
    #[arg(long = "data-binary", value_name = "DATA", conflicts_with = "data")]
    data_binary: Option<String>,
    /// Print the status line and the response headers before the body.
    #[arg(short = 'i', long)]
    include: bool,
    /// Write the body (with -i, the headers too) to FILE instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<std::path::PathBuf>,
    /// No warnings, and no message for an HTTP error status (the exit code still says it).
    #[arg(short = 's', long)]
    silent: bool,
    /// On an HTTP error (400 or more), print no body and exit 22, as curl -f does.
    #[arg(short = 'f', long)]
    fail: bool,
    /// Also send the token to this origin (`https://host[:port]`; repeat for several). By
    /// default it goes only to the origin of the profile's `resource`.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allow_origins: Vec<String>,
    /// The URL (default: the profile's `resource`).
    url: Option<String>,
}

/// Runs `tokenwarden request`.
pub async fn run(global: &Global, out: &Printer, args: RequestArgs) -> Result<ExitCode> {
    let own = headers(&args.headers)?;
    let w = context::warden(global)?;
    let profile = w.profile(&global.profile)?.profile;
    let headers = tokenwarden::http::resource::with_own_headers(
        tokenwarden::http::resource::header_map(&profile.resource_headers()?)?,
        own,
    );
    let url = match args.url.clone().or_else(|| profile.resource.clone()) {
        Some(u) => u,
        None => {
            return Err(Error::usage(format!(
                "no URL given and profile `{}` has no `resource`",
                global.profile
            ))
            .with_hint(format!(
                "give the URL (tokenwarden request https://api.example.com/v1/thing), or set it once: tokenwarden profile set {} resource URL",
                global.profile
            ))
            .into());
        }
    };
    let url = reqwest::Url::parse(&url)
        .map_err(|e| Error::usage(format!("`{url}` is not a valid URL: {e}")))?;
    let mut destinations = Destinations::for_profile(&profile);
    for origin in &args.allow_origins {
        destinations = destinations.allow_origin(origin)?;
    }
    destinations.check(&url).map_err(Error::from)?;
    let data = args.data.as_deref().or(args.data_binary.as_deref());
    let method = if data.is_some() && args.method == "GET" {
        reqwest::Method::POST
    } else {
        reqwest::Method::from_bytes(args.method.to_uppercase().as_bytes())
            .map_err(|_| Error::usage(format!("`{}` is not an HTTP method", args.method)))?
    };
    let body = body(data)?;
    let http = w.http_client(&profile)?;
    let source = context::agent_source(global, &global.profile)?;
    let resp = tokenwarden::correlation::operation(|_| {
        tokenwarden::session::send_with(&source, w.tracer().map(|t| t.as_ref()), |token| {
            let mut r = http
                .raw()
                .request(method.clone(), url.clone())
                .headers(headers.clone())
                .header(reqwest::header::AUTHORIZATION, token.authorization());
            if let Some(b) = &body {
                r = r.body(b.clone());
            }
            r
        })
    })
    .await?;
    if let Some(warning) = source.warning()
        && !args.silent
    {
        out.warning(&warning);
    }
    let status = resp.status();
    let version = resp.version();
    let resp_headers = resp.headers().clone();
    let request_id = resp_headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let www_authenticate = resp_headers
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = resp.bytes().await.map_err(|e| {
        Error::new(
            ErrorKind::ProviderUnavailable,
            format!("reading the API's answer failed: {e}"),
        )
    })?;
    let failed = args.fail && status.as_u16() >= 400;
    if !failed {
        if out.json() {
            out.print_json(&document(status, &resp_headers, &bytes))?;
        } else {
            let mut shown = Vec::new();
            if args.include {
                shown.extend(head(version, status, &resp_headers).into_bytes());
            }
            shown.extend_from_slice(&bytes);
            match &args.output {
                Some(path) => write_file(path, &shown)?,
                None => out.body(&shown)?,
            }
        }
    }
    if status.is_success() {
        return Ok(ExitCode::Success);
    }
    let mut e = Error::new(
        ErrorKind::Other,
        format!("the API answered {status} to {method} {url}"),
    )
    .with_http(tokenwarden::error::HttpEvidence {
        request: Some(format!("{method} {url}")),
        status: Some(status.as_u16()),
        request_id,
        ..Default::default()
    });
    if let Some(hint) = source.refusal_hint(status.as_u16(), www_authenticate.as_deref(), &bytes) {
        e = e.with_hint(hint);
    }
    let code = if failed {
        ExitCode::Command(FAIL_EXIT)
    } else {
        ExitCode::Failure
    };
    if args.silent && !out.json() {
        return Ok(code);
    }
    Ok(out.error_with_code(e.into(), code))
}

/// The `-H` headers; a Usage error for a malformed one or an `Authorization` header.
fn headers(given: &[String]) -> tokenwarden::Result<reqwest::header::HeaderMap> {
    let mut headers = reqwest::header::HeaderMap::new();
    for h in given {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| Error::usage(format!("header `{h}` is not `Name: value`")))?;
        let name = reqwest::header::HeaderName::from_bytes(k.trim().as_bytes())
            .map_err(|_| Error::usage(format!("`{k}` is not a header name")))?;
        if name == reqwest::header::AUTHORIZATION {
            return Err(Error::usage(
                "`-H Authorization: …` is refused: tokenwarden sends the profile's token in the Authorization header, and a second one would make the API answer 401",
            )
            .with_hint("drop the header to use the profile's token (--profile NAME picks another); to send a credential of your own, use curl"));
        }
        let value = reqwest::header::HeaderValue::from_str(v.trim())
            .map_err(|_| Error::usage(format!("the value of header `{k}` is not valid")))?;
        headers.append(name, value);
    }
    Ok(headers)
}

/// The request body of `-d`/`--data-binary`: inline, `@FILE`, or `@-` (standard input).
fn body(data: Option<&str>) -> tokenwarden::Result<Option<Vec<u8>>> {
    Ok(match data {
        None => None,
        Some("@-") => {
            let mut b = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut b)
                .map_err(|e| Error::usage(format!("cannot read standard input: {e}")))?;
            Some(b)
        }
        Some(d) if d.starts_with('@') => Some(
            std::fs::read(&d[1..])
                .map_err(|e| Error::usage(format!("cannot read `{}`: {e}", &d[1..])))?,
        ),
        Some(d) => Some(d.as_bytes().to_vec()),
    })
}

/// The status line and headers, as `curl -i` shows them.
fn head(
    version: reqwest::Version,
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
) -> String {
    let mut text = format!("{version:?} {status}\r\n");
    for (name, value) in headers {
        text.push_str(&format!(
            "{name}: {}\r\n",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    text.push_str("\r\n");
    text
}

/// The `--json` document of an answer.
fn document(
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
    bytes: &[u8],
) -> json::Response {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        map.entry(name.as_str().to_string())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let (body, body_base64) = match std::str::from_utf8(bytes) {
        Ok(text) => (Some(text.to_string()), None),
        Err(_) => {
            use base64::Engine as _;
            (
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
            )
        }
    };
    json::Response {
        status: status.as_u16(),
        headers: map,
        body,
        body_base64,
    }
}

/// Writes `bytes` to `path` (`-o`).
fn write_file(path: &std::path::Path, bytes: &[u8]) -> tokenwarden::Result<()> {
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(path)?;
        f.write_all(bytes)?;
        f.flush()
    };
    write().map_err(|e| {
        Error::usage(format!("cannot write {}: {e}", path.display()))
            .with_hint("check that the directory exists and is writable")
    })
}
