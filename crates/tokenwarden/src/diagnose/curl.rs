//! `doctor --curl`: the profile's token requests as curl commands — the "minimal known-good
//! request" troubleshooting guides ask for — with every secret left as a shell variable the
//! user fills in (`$REFRESH_TOKEN`, `$CLIENT_SECRET`, `$CODE`…), so the output can be shared.
//!
//! The commands are rendered from the very requests tokenwarden sends ([`token_request`]), so
//! they carry the same parameters, body format (form or JSON) and client authentication. For
//! `client_secret_basic` the id and secret are form-urlencoded before base64 (RFC 6749 §2.3.1):
//! the client id is encoded here, the secret by the shell (with `jq`), since it is not known.

use crate::config::{ClientAuth, GrantType, HeaderSource, Profile, SecretSource};
use crate::http::request::{Grant, token_request};
use crate::http::{Body, Param};
use crate::secret::{AuthorizationCode, ClientSecret, DeviceCode, PkceVerifier, RefreshToken};
use url::Url;

/// One command, with the variables it needs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CurlCommand {
    /// What the request does, e.g. `refresh (RFC 6749 §6)`.
    pub title: String,
    /// The shell variables to set first, with what goes in each.
    pub variables: Vec<(String, String)>,
    /// The command (may span lines joined with `\`).
    pub command: String,
}

impl CurlCommand {
    /// The command as a shell snippet: comments naming the variables, then the command.
    pub fn script(&self) -> String {
        let mut s = format!("# {}\n", self.title);
        if !self.variables.is_empty() {
            s.push_str("# set first:\n");
            for (name, what) in &self.variables {
                s.push_str(&format!("#   {name}: {what}\n"));
            }
        }
        s.push_str(&self.command);
        s.push('\n');
        s
    }
}

/// Quotes `s` for a POSIX shell (single quotes).
fn sq(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The shell variable standing for a secret parameter.
fn variable_for(name: &str) -> Option<&'static str> {
    Some(match name {
        "code" => "CODE",
        "code_verifier" => "CODE_VERIFIER",
        "refresh_token" => "REFRESH_TOKEN",
        "device_code" => "DEVICE_CODE",
        "client_secret" => "CLIENT_SECRET",
        "redirect_uri" => "REDIRECT_URI",
        "state" => "STATE",
        _ => return None,
    })
}

fn describe_variable(p: &Profile, var: &str) -> String {
    match var {
        "CODE" => {
            "the authorization code from the callback (it lives about a minute and works once)"
                .into()
        }
        "CODE_VERIFIER" => {
            "the PKCE verifier whose challenge went to the authorization endpoint".into()
        }
        "REFRESH_TOKEN" => "the refresh token (keep it out of shared logs)".into(),
        "DEVICE_CODE" => "the device_code from the device authorization response".into(),
        "REDIRECT_URI" => format!(
            "exactly the redirect_uri sent to the authorization endpoint, port included ({})",
            p.redirect_uri
                .as_deref()
                .unwrap_or(crate::flow::authcode::DEFAULT_REDIRECT_URI)
        ),
        "STATE" => "the state sent to the authorization endpoint".into(),
        "CLIENT_SECRET" => match &p.client_secret {
            SecretSource::Env(v) => format!("the client secret, e.g. CLIENT_SECRET=\"${v}\""),
            _ => "the client secret".into(),
        },
        "TOKEN_ENDPOINT" => "the provider's token endpoint URL (discovery did not answer)".into(),
        _ => String::new(),
    }
}

/// Which parameters of this grant are variables rather than literal values.
fn is_variable(param: &Param, grant_kind: GrantKind) -> Option<&'static str> {
    if param.secret {
        return variable_for(&param.name);
    }
    match (param.name.as_str(), grant_kind) {
        ("redirect_uri" | "state", GrantKind::Code) => variable_for(&param.name),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GrantKind {
    Code,
    Refresh,
    Device,
    ClientCredentials,
}

fn grant(kind: GrantKind) -> Grant {
    match kind {
        GrantKind::Code => Grant::AuthorizationCode {
            code: AuthorizationCode::new("$CODE"),
            redirect_uri: "$REDIRECT_URI".into(),
            verifier: Some(PkceVerifier::new("$CODE_VERIFIER")),
            state: Some("$STATE".into()),
        },
        GrantKind::Refresh => Grant::RefreshToken {
            refresh_token: RefreshToken::new("$REFRESH_TOKEN"),
        },
        GrantKind::Device => Grant::DeviceCode {
            device_code: DeviceCode::new("$DEVICE_CODE"),
        },
        GrantKind::ClientCredentials => Grant::ClientCredentials,
    }
}

fn title(kind: GrantKind, p: &Profile) -> String {
    let what = match kind {
        GrantKind::Code => "the authorization code exchange (RFC 6749 §4.1.3, PKCE RFC 7636)",
        GrantKind::Refresh => "a refresh (RFC 6749 §6)",
        GrantKind::Device => "the device grant's token request (RFC 8628 §3.4)",
        GrantKind::ClientCredentials => "the client credentials grant (RFC 6749 §4.4)",
    };
    format!("profile `{}`: {what}", p.name)
}

/// The form-urlencoded client id (RFC 6749 §2.3.1).
fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn render(p: &Profile, endpoint: Option<&Url>, kind: GrantKind) -> CurlCommand {
    let placeholder = Url::parse("https://token.endpoint.invalid/").ok();
    let url = endpoint.cloned().or(placeholder);
    let Some(url) = url else {
        return CurlCommand {
            title: title(kind, p),
            variables: Vec::new(),
            command: "# no token endpoint".into(),
        };
    };
    let secret = p
        .client_auth
        .needs_secret()
        .then(|| ClientSecret::new("$CLIENT_SECRET"));
    let req = token_request(p, secret.as_ref(), url, grant(kind));
    let mut vars: Vec<&'static str> = Vec::new();
    let mut lines = vec![format!(
        "curl -sS -i -X POST {}",
        match endpoint {
            Some(u) => sq(u.as_str()),
            None => {
                vars.push("TOKEN_ENDPOINT");
                "\"$TOKEN_ENDPOINT\"".to_string()
            }
        }
    )];
    let mut prelude = Vec::new();
    for h in &req.headers {
        if h.name.eq_ignore_ascii_case("authorization")
            && p.client_auth == ClientAuth::ClientSecretBasic
        {
            vars.push("CLIENT_SECRET");
            prelude.push(format!(
                "# client_secret_basic (RFC 6749 §2.3.1): id and secret are form-urlencoded, then base64\nBASIC=$(printf '%s:%s' {} \"$(jq -rn --arg s \"$CLIENT_SECRET\" '$s|@uri')\" | base64 | tr -d '\\n')",
                sq(&form_encode(&p.client_id))
            ));
            lines.push("-H \"Authorization: Basic $BASIC\"".into());
        } else {
            lines.push(format!("-H {}", sq(&format!("{}: {}", h.name, h.value))));
        }
    }
    for h in &p.token_request_headers {
        match &h.source {
            HeaderSource::Plain(v) => lines.push(format!("-H {}", sq(&format!("{}: {v}", h.name)))),
            HeaderSource::Env(var) => lines.push(format!("-H \"{}: ${var}\"", h.name)),
            HeaderSource::Secret(_) => prelude.push(format!(
                "# the header `{}` (token_request_headers) is secret and not shown: add -H '{}: …'",
                h.name, h.name
            )),
        }
    }
    match &req.body {
        Body::Form(params) => {
            for param in params {
                match is_variable(param, kind) {
                    Some(var) => {
                        vars.push(var);
                        lines.push(format!("--data-urlencode \"{}=${var}\"", param.name));
                    }
                    None => lines.push(format!(
                        "--data-urlencode {}",
                        sq(&format!("{}={}", param.name, param.value))
                    )),
                }
            }
        }
        Body::Json(params) => {
            lines.push("-H 'Content-Type: application/json'".into());
            let members: Vec<String> = params
                .iter()
                .map(|param| {
                    // Inside single quotes: a literal `'` is written `'\''`.
                    let json = |v: &str| {
                        serde_json::Value::String(v.to_string())
                            .to_string()
                            .replace('\'', r"'\''")
                    };
                    let key = json(&param.name);
                    match is_variable(param, kind) {
                        // Close the quotes, splice the variable in double quotes, reopen.
                        Some(var) => {
                            vars.push(var);
                            format!("{key}:\"'\"${var}\"'\"")
                        }
                        None => format!("{key}:{}", json(&param.value)),
                    }
                })
                .collect();
            lines.push(format!("--data-binary '{{{}}}'", members.join(",")));
        }
        Body::None => {}
    }
    let mut command = prelude.join("\n");
    if !command.is_empty() {
        command.push('\n');
    }
    command.push_str(&lines.join(" \\\n  "));
    vars.dedup();
    let mut seen = Vec::new();
    let variables = vars
        .into_iter()
        .filter(|v| {
            let new = !seen.contains(v);
            seen.push(*v);
            new
        })
        .map(|v| (v.to_string(), describe_variable(p, v)))
        .collect();
    CurlCommand {
        title: title(kind, p),
        variables,
        command,
    }
}

/// The token requests of `p` as curl commands: the code exchange and a refresh for an
/// authorization-code profile, the device grant and a refresh for a device profile, the client
/// credentials grant for a client-credentials profile. `endpoint` is the token endpoint
/// (`None`: a `$TOKEN_ENDPOINT` variable).
pub fn commands(p: &Profile, endpoint: Option<&Url>) -> Vec<CurlCommand> {
    let kinds: &[GrantKind] = match p.grant {
        GrantType::AuthorizationCode => &[GrantKind::Code, GrantKind::Refresh],
        GrantType::DeviceCode => &[GrantKind::Device, GrantKind::Refresh],
        GrantType::ClientCredentials => &[GrantKind::ClientCredentials],
    };
    kinds.iter().map(|k| render(p, endpoint, *k)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TokenRequestFormat;

    fn endpoint() -> Url {
        Url::parse("https://as.example/token").unwrap()
    }

    #[test]
    fn form_refresh_with_variables() {
        let mut p = Profile::new("w", "cli");
        p.scopes = vec!["openid".into()];
        let c = commands(&p, Some(&endpoint()));
        assert_eq!(c.len(), 2);
        let refresh = &c[1].command;
        assert!(
            refresh.contains("curl -sS -i -X POST 'https://as.example/token'"),
            "{refresh}"
        );
        assert!(
            refresh.contains("--data-urlencode 'grant_type=refresh_token'"),
            "{refresh}"
        );
        assert!(
            refresh.contains("--data-urlencode \"refresh_token=$REFRESH_TOKEN\""),
            "{refresh}"
        );
        assert!(
            refresh.contains("--data-urlencode 'client_id=cli'"),
            "{refresh}"
        );
        assert_eq!(c[1].variables[0].0, "REFRESH_TOKEN");
        let code = &c[0].command;
        assert!(
            code.contains("\"code=$CODE\"") && code.contains("\"code_verifier=$CODE_VERIFIER\""),
            "{code}"
        );
        assert!(code.contains("\"redirect_uri=$REDIRECT_URI\""), "{code}");
    }

    #[test]
    fn json_bodies_splice_variables() {
        let mut p = Profile::new("a", "anthropic");
        p.token_request_format = TokenRequestFormat::Json;
        let c = commands(&p, Some(&endpoint()));
        let refresh = &c[1].command;
        assert!(
            refresh.contains("-H 'Content-Type: application/json'"),
            "{refresh}"
        );
        assert!(
            refresh.contains(r#"--data-binary '{"grant_type":"refresh_token","refresh_token":"'"$REFRESH_TOKEN"'","client_id":"anthropic"}'"#),
            "{refresh}"
        );
    }

    #[test]
    fn basic_auth_encodes_the_id_and_leaves_the_secret_to_the_shell() {
        let mut p = Profile::new("s", "my client:1");
        p.grant = GrantType::ClientCredentials;
        p.client_auth = ClientAuth::ClientSecretBasic;
        p.client_secret = SecretSource::Env("SVC_SECRET".into());
        let c = commands(&p, None);
        assert_eq!(c.len(), 1);
        let cmd = &c[0].command;
        assert!(cmd.contains("printf '%s:%s' 'my+client%3A1'"), "{cmd}");
        assert!(cmd.contains("-H \"Authorization: Basic $BASIC\""), "{cmd}");
        assert!(cmd.contains("\"$TOKEN_ENDPOINT\""), "{cmd}");
        assert!(!cmd.contains("client_secret="), "{cmd}");
        let vars: Vec<&str> = c[0].variables.iter().map(|(v, _)| v.as_str()).collect();
        assert_eq!(vars, ["TOKEN_ENDPOINT", "CLIENT_SECRET"]);
        assert!(c[0].variables[1].1.contains("$SVC_SECRET"));
    }
}
