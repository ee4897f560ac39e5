//! Where things are served: an issuer with a path, the two RFC 8414 metadata locations,
//! documents with keys left out, Microsoft-like tenant paths, and the paste-back page.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mockauth::{Config, MetadataLocation};
use reqwest::StatusCode;
use serde_json::Value;

use crate::util::{Env, auto, location_params, pkce, start, tokens};

const GUID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

async fn status_at(env: &Env, url: &str) -> StatusCode {
    env.http.get(url).send().await.expect("request").status()
}

async fn json_at(env: &Env, url: &str) -> Value {
    let resp = env.http.get(url).send().await.expect("request");
    assert_eq!(resp.status(), StatusCode::OK, "{url}");
    resp.json().await.expect("json")
}

fn origin(env: &Env) -> String {
    format!("http://{}", env.server.local_addr())
}

fn claims(id_token: &str) -> Value {
    let payload = id_token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("claims")
}

#[tokio::test]
async fn an_issuer_path_serves_everything_under_it() {
    let env = start(Config {
        issuer_path: Some("/realms/test".into()),
        ..auto()
    })
    .await;
    let issuer = env.server.issuer();
    let origin = origin(&env);
    assert_eq!(issuer, format!("{origin}/realms/test"));
    // RFC 8414 §3.1: the well-known part is inserted before the path…
    let doc = json_at(
        &env,
        &format!("{origin}/.well-known/oauth-authorization-server/realms/test"),
    )
    .await;
    assert_eq!(doc["issuer"], issuer.as_str());
    assert_eq!(doc["token_endpoint"], format!("{issuer}/token"));
    // …and not appended; OIDC discovery is appended.
    assert_eq!(
        status_at(
            &env,
            &format!("{issuer}/.well-known/oauth-authorization-server")
        )
        .await,
        StatusCode::NOT_FOUND
    );
    let oidc = json_at(&env, &format!("{issuer}/.well-known/openid-configuration")).await;
    assert_eq!(oidc, doc);
    // Nothing at the root.
    assert_eq!(
        status_at(&env, &format!("{origin}/jwks")).await,
        StatusCode::NOT_FOUND
    );
    // The whole login works under the path (the util helpers use server.url()).
    let t = env.login().await;
    assert_eq!(env.resource(&t.access).await, StatusCode::OK);
    assert_eq!(
        claims(t.json["id_token"].as_str().expect("id"))["iss"],
        issuer.as_str()
    );
    let resp = env.admin(reqwest::Method::GET, "/stats", None).await;
    assert_eq!(resp.status(), StatusCode::OK, "the admin API too");
}

#[tokio::test]
async fn metadata_can_be_appended_only() {
    let env = start(Config {
        issuer_path: Some("/tenant-a".into()),
        metadata_location: MetadataLocation::Appended,
        ..auto()
    })
    .await;
    let issuer = env.server.issuer();
    let doc = json_at(
        &env,
        &format!("{issuer}/.well-known/oauth-authorization-server"),
    )
    .await;
    assert_eq!(doc["issuer"], issuer.as_str());
    assert_eq!(
        status_at(
            &env,
            &format!(
                "{}/.well-known/oauth-authorization-server/tenant-a",
                origin(&env)
            )
        )
        .await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn discovery_can_leave_keys_out() {
    let env = start(Config {
        discovery_omit: vec![
            "revocation_endpoint".into(),
            "device_authorization_endpoint".into(),
        ],
        ..auto()
    })
    .await;
    let doc = json_at(&env, &env.url("/.well-known/openid-configuration")).await;
    for key in [
        "revocation_endpoint",
        "revocation_endpoint_auth_methods_supported",
        "device_authorization_endpoint",
    ] {
        assert!(doc.get(key).is_none(), "{key} in {doc}");
    }
    assert!(doc["token_endpoint"].is_string());
    // The endpoints themselves still answer.
    let resp = env
        .http
        .post(env.url("/revoke"))
        .form(&[("token", "x"), ("client_id", "cli")])
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn tenant_paths_look_like_microsoft() {
    let env = start(Config {
        tenant_id: Some(GUID.into()),
        ..auto()
    })
    .await;
    let base = env.server.issuer();
    for tenant in ["common", "organizations", "consumers"] {
        let doc = json_at(
            &env,
            &format!("{base}/{tenant}/v2.0/.well-known/openid-configuration"),
        )
        .await;
        assert_eq!(
            doc["issuer"],
            format!("{base}/{{tenantid}}/v2.0"),
            "{tenant}"
        );
        assert_eq!(
            doc["token_endpoint"],
            format!("{base}/{tenant}/oauth2/v2.0/token")
        );
        assert_eq!(
            doc["authorization_endpoint"],
            format!("{base}/{tenant}/oauth2/v2.0/authorize")
        );
        assert_eq!(
            doc["device_authorization_endpoint"],
            format!("{base}/{tenant}/oauth2/v2.0/devicecode")
        );
        assert_eq!(
            doc["jwks_uri"],
            format!("{base}/{tenant}/discovery/v2.0/keys")
        );
        assert!(doc.get("revocation_endpoint").is_none(), "{doc}");
        assert!(
            doc.get("authorization_response_iss_parameter_supported")
                .is_none()
        );
    }
    let single = json_at(
        &env,
        &format!("{base}/{GUID}/v2.0/.well-known/openid-configuration"),
    )
    .await;
    let exact = format!("{base}/{GUID}/v2.0");
    assert_eq!(single["issuer"], exact.as_str());
    assert_eq!(
        status_at(
            &env,
            &format!(
                "{base}/11111111-2222-3333-4444-555555555555/v2.0/.well-known/openid-configuration"
            )
        )
        .await,
        StatusCode::NOT_FOUND,
        "another tenant"
    );

    // A login through /common: no RFC 9207 iss, and the ID token names the real tenant.
    let (verifier, challenge) = pkce();
    let resp = env
        .http
        .get(format!("{base}/common/oauth2/v2.0/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", "cli"),
            ("redirect_uri", crate::util::REDIRECT),
            ("state", "s"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("scope", "openid offline_access"),
        ])
        .send()
        .await
        .expect("authorize");
    let q = location_params(&resp);
    assert!(!q.contains_key("iss"), "{q:?}");
    let resp = env
        .http
        .post(format!("{base}/common/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", q["code"].as_str()),
            ("client_id", "cli"),
            ("redirect_uri", crate::util::REDIRECT),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(resp.status(), StatusCode::OK);
    let t = tokens(resp.json().await.expect("json"));
    let c = claims(t.json["id_token"].as_str().expect("id_token"));
    assert_eq!(c["tid"], GUID);
    assert_eq!(c["iss"], exact.as_str());
    // The keys are at the tenant's jwks_uri.
    let keys = json_at(&env, &format!("{base}/common/discovery/v2.0/keys")).await;
    assert!(keys["keys"][0]["kid"].is_string());
    // Faults apply to tenant paths as to the canonical ones.
    assert_eq!(env.server.stats().token_requests.authorization_code, 1);
}

#[tokio::test]
async fn the_paste_back_page_shows_code_and_state() {
    let env = start(auto()).await;
    let issuer = env.server.issuer();
    let paste = format!("{issuer}/oauth/code/callback");
    assert!(
        env.server
            .config()
            .client("cli")
            .expect("cli")
            .redirect_uris
            .contains(&paste),
        "registered for cli"
    );
    // Followed like `curl -L`.
    let follow = crate::util::following();
    let (verifier, challenge) = pkce();
    let page = follow
        .get(env.url("/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", "cli"),
            ("redirect_uri", paste.as_str()),
            ("state", "st<&>"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .expect("authorize");
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.url().as_str().starts_with(&paste), "{}", page.url());
    let html = page.text().await.expect("page");
    let start_tag = "<code id=\"code\">";
    let from = html.find(start_tag).expect("the code element") + start_tag.len();
    let shown = &html[from..from + html[from..].find("</code>").expect("closed")];
    let (code, state) = shown.split_once('#').expect("CODE#STATE");
    assert_eq!(state, "st&lt;&amp;&gt;", "HTML-escaped");
    assert!(html.contains("paste"), "tells the user to paste it");
    let (status, json) = env
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", "cli"),
            ("redirect_uri", paste.as_str()),
            ("code_verifier", verifier.as_str()),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");

    // An error lands there too, and is shown as one.
    let resp = follow
        .get(env.url("/authorize"))
        .query(&[
            ("response_type", "token"),
            ("client_id", "cli"),
            ("redirect_uri", paste.as_str()),
            ("state", "s"),
        ])
        .send()
        .await
        .expect("authorize");
    let html = resp.text().await.expect("page");
    assert!(!html.contains("id=\"code\""), "{html}");
    assert!(html.contains("unsupported_response_type"), "{html}");
}

#[tokio::test]
async fn consent_and_device_forms_post_under_the_issuer_path() {
    let env = start(Config {
        issuer_path: Some("/p".into()),
        ..Config::default()
    })
    .await;
    let (_, challenge) = pkce();
    let page = env
        .authorize(&challenge, &[])
        .await
        .text()
        .await
        .expect("consent page");
    assert!(page.contains("action=\"/p/authorize/decision\""), "{page}");
    let page = env.get("/device", &[]).await.text().await.expect("page");
    assert!(page.contains("action=\"/p/device\""), "{page}");
}
