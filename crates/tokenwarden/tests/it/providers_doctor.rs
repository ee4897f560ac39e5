//! `doctor` on providers as they publish themselves: which discovery document was used (RFC
//! 8414 appended to the issuer), a missing revocation endpoint (logout could not revoke), RFC
//! 8707 indicators against a strict server, a multi-tenant issuer template, and a framework's
//! HTML 500 page named with its title.

use crate::diagnose::{Home, assert_check, doctor};
use mockauth::{Endpoint, FaultPlan, FaultSpec};
use tokenwarden::diagnose::Status;

async fn start(config: mockauth::Config) -> mockauth::ServerHandle {
    mockauth::Server::start(mockauth::Config {
        auto_approve: true,
        ..config
    })
    .await
    .expect("mockauth starts")
}

#[tokio::test]
async fn the_document_used_is_named_and_a_missing_revocation_endpoint_warns() {
    let server = start(mockauth::Config {
        issuer_path: Some("/oauth".into()),
        metadata_location: mockauth::MetadataLocation::Appended,
        discovery_omit: vec!["revocation_endpoint".into()],
        ..mockauth::Config::default()
    })
    .await;
    let home = Home::new(&server.issuer(), "");
    let r = doctor(&home.warden(), false).await;
    assert_check(
        &r,
        "discovery",
        Status::Ok,
        &["appended to the issuer's path"],
    );
    assert_check(
        &r,
        "revocation",
        Status::Warn,
        &[
            "names no revocation_endpoint",
            "could not revoke",
            "revocation_endpoint",
        ],
    );
    server.shutdown().await.expect("shutdown");

    let server = start(mockauth::Config::default()).await;
    let home = Home::new(&server.issuer(), "");
    let r = doctor(&home.warden(), false).await;
    assert_check(&r, "revocation", Status::Ok, &["logout revokes", "/revoke"]);
    assert_check(&r, "resource_indicator", Status::Ok, &["none configured"]);
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn resource_indicators_are_checked_against_a_strict_server() {
    let api = "https://api.example.test/";
    let server = start(mockauth::Config {
        resource_indicators: vec![api.into()],
        ..mockauth::Config::default()
    })
    .await;
    // An existing config: `resource` was the indicator too; now it is only the API's URL.
    let home = Home::new(
        &server.issuer(),
        &format!("resource = \"{}\"", server.url("/v1/messages")),
    );
    let r = doctor(&home.warden(), false).await;
    assert_check(
        &r,
        "resource_indicator",
        Status::Warn,
        &["supports RFC 8707", "sends none", "resource_indicator = "],
    );
    let home = Home::new(&server.issuer(), &format!("resource_indicator = \"{api}\""));
    let r = doctor(&home.warden(), false).await;
    assert_check(&r, "resource_indicator", Status::Ok, &[api, "supports"]);
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_multi_tenant_template_passes_the_issuer_check() {
    let server = start(mockauth::Config {
        tenant_id: Some("72f988bf-86f1-41af-91ab-2d7cd011db47".into()),
        ..mockauth::Config::default()
    })
    .await;
    let home = Home::new(
        &format!("{}/organizations/v2.0", server.issuer()),
        "provider = \"microsoft\"\ntenant = \"organizations\"",
    );
    let r = doctor(&home.warden(), false).await;
    assert_check(
        &r,
        "issuer",
        Status::Ok,
        &["multi-tenant template", "organizations"],
    );
    // Tenant authorities have no revocation endpoint, like the provider they imitate.
    assert_check(&r, "revocation", Status::Warn, &["could not revoke"]);
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_frameworks_html_500_page_is_named_with_its_title() {
    let server = start(mockauth::Config::default()).await;
    server
        .set_faults(
            FaultPlan::default().with(
                Endpoint::Token,
                FaultSpec::raw(
                    500,
                    "<!DOCTYPE html><html><head><title>Internal Server Error</title></head>\
                 <body><h1>Internal Server Error</h1></body></html>",
                )
                .content_type("text/html; charset=utf-8"),
            ),
        )
        .expect("faults");
    let home = Home::new(&server.issuer(), "");
    let r = doctor(&home.warden(), false).await;
    assert_check(
        &r,
        "token_endpoint",
        Status::Fail,
        &[
            "an HTML error page from the provider or a proxy in front of it",
            "\"Internal Server Error\"",
        ],
    );
    let c = crate::diagnose::check(&r, "token_endpoint");
    assert!(
        !c.fix.as_deref().unwrap_or("").contains("captive portal"),
        "{c:#?}"
    );
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_403_lacks_permission_only_when_it_says_insufficient_scope() {
    let server = start(mockauth::Config::default()).await;
    let resource = server.url("/v1/messages");
    let home = Home::new(&server.issuer(), &format!("resource = \"{resource}\""));
    let w = home.warden();
    crate::diagnose::login(&server, &w).await;
    // A bare 403, as a provider answers a token it will not serve (no insufficient_scope).
    server
        .set_faults(FaultPlan::default().with(
            Endpoint::Resource,
            FaultSpec::raw(
                403,
                r#"{"type":"error","error":{"type":"permission_error","message":"no"}}"#,
            ),
        ))
        .expect("faults");
    let r = doctor(&w, true).await;
    assert_check(
        &r,
        "live_resource",
        Status::Fail,
        &["403", "without saying"],
    );
    assert!(
        !crate::diagnose::check(&r, "live_resource")
            .fix
            .as_deref()
            .unwrap_or("")
            .contains("lacks permission")
    );
    server
        .set_faults(
            FaultPlan::default().with(
                Endpoint::Resource,
                FaultSpec::status(403)
                    .header("WWW-Authenticate", "Bearer error=\"insufficient_scope\""),
            ),
        )
        .expect("faults");
    let r = doctor(&w, true).await;
    assert_check(
        &r,
        "live_resource",
        Status::Fail,
        &["lacks permission (insufficient_scope)", "scopes"],
    );
    server.shutdown().await.expect("shutdown");
}
