//! The `--json` contract of the documents other programs read, decoded from real output into
//! mirrors that refuse unknown and missing keys (as `json_contract` does for the others):
//! `token --id-token`, `token --format exec-credential`, `env`, `request` and `profile keys`.

// The mirrors exist to be decoded: a key must be there even when no test reads it.
#![allow(dead_code)]

use crate::json_contract::{decode, nullable};
use crate::sessions::{P, logged_in, mock};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdToken {
    id_token: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ExecCredential {
    api_version: String,
    kind: String,
    status: ExecCredentialStatus,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ExecCredentialStatus {
    token: String,
    expiration_timestamp: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Env {
    variables: BTreeMap<String, String>,
    #[serde(deserialize_with = "nullable")]
    expires_at: Option<String>,
    #[serde(deserialize_with = "nullable")]
    expires_on: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Response {
    status: u16,
    headers: BTreeMap<String, Vec<String>>,
    #[serde(deserialize_with = "nullable")]
    body: Option<String>,
    #[serde(deserialize_with = "nullable")]
    body_base64: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileKey {
    name: String,
    kind: String,
    help: String,
}

#[test]
fn the_documents_other_programs_read_hold_their_contract() {
    let mock = mock(Duration::from_secs(3600), Duration::ZERO);
    let env = logged_in(&mock);
    let token = env
        .run(&["--profile", P, "token"])
        .stdout
        .trim()
        .to_string();

    let id: IdToken = decode(
        env.run(&["--profile", P, "--json", "token", "--id-token"])
            .code(0),
    );
    assert_eq!(id.id_token.split('.').count(), 3);

    let ec: ExecCredential = decode(
        env.run(&["--profile", P, "token", "--format", "exec-credential"])
            .code(0),
    );
    assert_eq!(ec.api_version, "client.authentication.k8s.io/v1beta1");
    assert_eq!(
        (ec.kind.as_str(), ec.status.token.as_str()),
        ("ExecCredential", token.as_str())
    );

    let vars: Env = decode(env.run(&["--profile", P, "--json", "env"]).code(0));
    assert_eq!(vars.variables.get("TOKENWARDEN_ACCESS_TOKEN"), Some(&token));
    assert!(vars.expires_at.is_some() && vars.expires_on.is_some());

    let url = mock.server.url("/v1/messages");
    let resp: Response = decode(
        env.run(&["--profile", P, "--json", "request", &url])
            .code(0),
    );
    assert_eq!(resp.status, 200);
    assert!(resp.body.is_some() && resp.body_base64.is_none());

    let keys: Vec<ProfileKey> = decode(env.run(&["--json", "profile", "keys"]).code(0));
    let timeout = keys.iter().find(|k| k.name == "timeout").expect("timeout");
    assert_eq!(timeout.kind, "a string");
}
