//! ID tokens: signed ES256, verifiable with the published JWKS, carrying the nonce.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::util::{Env, auto, start, tokens};

async fn verify(env: &Env, id_token: &str) -> Value {
    tokenwarden_jwt::install();
    let set: JwkSet = env.get("/jwks", &[]).await.json().await.expect("jwks");
    let header = jsonwebtoken::decode_header(id_token).expect("header");
    assert_eq!(header.alg, Algorithm::ES256);
    let kid = header.kid.expect("kid in header");
    let jwk = set.find(&kid).expect("kid published");
    let key = DecodingKey::from_jwk(jwk).expect("key");
    let mut v = Validation::new(Algorithm::ES256);
    v.set_audience(&["cli"]);
    v.set_issuer(&[env.server.issuer()]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Value>(id_token, &key, &v)
        .expect("ID token verifies")
        .claims
}

#[tokio::test]
async fn id_token_verifies_with_the_jwks_and_carries_the_nonce() {
    let env = start(auto()).await;
    let (code, verifier) = env.code(&[("nonce", "n-0S6_WzA2Mj")]).await;
    let (_, json) = env.exchange(&code, &verifier).await;
    let claims = verify(&env, json["id_token"].as_str().expect("id_token")).await;
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(claims["sub"], "mock-user");
    assert_eq!(claims["aud"], "cli");
    let iat = claims["iat"].as_i64().expect("iat");
    assert_eq!(claims["exp"].as_i64().expect("exp") - iat, 3600);

    // Refreshing keeps the nonce (OIDC Core §12.2).
    let t = tokens(json);
    let (_, json) = env.refresh(&t.refresh).await;
    let claims = verify(&env, json["id_token"].as_str().expect("id_token")).await;
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
}

#[tokio::test]
async fn no_id_token_without_openid() {
    let env = start(auto()).await;
    let (code, verifier) = env.code(&[("scope", "offline_access")]).await;
    let (_, json) = env.exchange(&code, &verifier).await;
    assert!(json.get("id_token").is_none(), "{json}");
}
