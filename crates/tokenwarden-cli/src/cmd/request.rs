//! `tokenwarden request`: calls an API with the profile's bearer token (and its
//! `resource_headers`, which `-H` overrides) and prints the response body. A 401 makes it
//! invalidate that token, refresh once and retry once; a second 401 is "session rejected"
//! (exit 5). A refusal's hint comes from the session (`Session::refusal_hint`). Exit 0 on 2xx.

use super::Global;
use super::context;
use crate::output::Printer;
use anyhow::Result;
use tokenwarden::{Error, ErrorKind};

/// Arguments of `tokenwarden request`.
#[derive(Debug, clap::Args)]
pub struct RequestArgs {
    /// The HTTP method.
    #[arg(short = 'X', long = "request", default_value = "GET")]
    method: String,
    /// A header `Name: value` (repeat for several).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,
    /// The request body (`@FILE` reads a file, `@-` standard input). Implies POST when -X is
    /// not given.
    #[arg(short = 'd', long = "data")]
    data: Option<String>,
    /// The URL (default: the profile's `resource`).
    url: Option<String>,
}

/// Runs `tokenwarden request`.
pub async fn run(global: &Global, out: &Printer, args: RequestArgs) -> Result<()> {
    let w = context::warden(global)?;
    let profile = w.profile(&global.profile)?.profile;
    let url = match args.url.clone().or_else(|| profile.resource.clone()) {
        Some(u) => u,
        None => {
            return Err(
                Error::usage("no URL given and the profile has no `resource`")
                    .with_hint("tokenwarden request https://api.example.com/v1/thing")
                    .into(),
            );
        }
    };
    let url = reqwest::Url::parse(&url)
        .map_err(|e| Error::usage(format!("`{url}` is not a valid URL: {e}")))?;
    let method = if args.data.is_some() && args.method == "GET" {
        reqwest::Method::POST
    } else {
        reqwest::Method::from_bytes(args.method.to_uppercase().as_bytes())
            .map_err(|_| Error::usage(format!("`{}` is not an HTTP method", args.method)))?
    };
    let mut own = reqwest::header::HeaderMap::new();
    for h in &args.headers {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| Error::usage(format!("header `{h}` is not `Name: value`")))?;
        let name = reqwest::header::HeaderName::from_bytes(k.trim().as_bytes())
            .map_err(|_| Error::usage(format!("`{k}` is not a header name")))?;
        let value = reqwest::header::HeaderValue::from_str(v.trim())
            .map_err(|_| Error::usage(format!("the value of header `{k}` is not valid")))?;
        own.append(name, value);
    }
    let profile_headers = tokenwarden::http::resource::header_map(&profile.resource_headers()?)?;
    let headers = tokenwarden::http::resource::with_own_headers(profile_headers, own);
    let body: Option<Vec<u8>> = match args.data.as_deref() {
        None => None,
        Some("@-") => {
            let mut b = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut b)?;
            Some(b)
        }
        Some(d) if d.starts_with('@') => Some(
            std::fs::read(&d[1..])
                .map_err(|e| Error::usage(format!("cannot read `{}`: {e}", &d[1..])))?,
        ),
        Some(d) => Some(d.as_bytes().to_vec()),
    };
    let client = w.client(&profile)?;
    let http = client.http().clone();
    let session = w.session_with(&global.profile, client)?;
    let resp = session
        .send(|token| {
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
        .await?;
    if let Some(warning) = session.warning() {
        out.warning(&warning);
    }
    let status = resp.status();
    let request_id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let www_authenticate = resp
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = resp.bytes().await.map_err(|e| {
        Error::new(
            ErrorKind::ProviderUnavailable,
            format!("reading the API's answer failed: {e}"),
        )
    })?;
    out.body(&bytes)?;
    if status.is_success() {
        return Ok(());
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
    if let Some(hint) = session.refusal_hint(status.as_u16(), www_authenticate.as_deref(), &bytes) {
        e = e.with_hint(hint);
    }
    Err(e.into())
}
