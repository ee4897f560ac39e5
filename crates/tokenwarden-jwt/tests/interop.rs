//! The provider against an independent implementation: tokens signed by Python's
//! `cryptography` (tests/make-vectors.py wrote tests/vectors.json) verify, for every algorithm;
//! each fails once its signature or claims change, or with another algorithm's key; and tokens
//! this provider signs with the same RSA key verify with that key's public JWK.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode};
use serde_json::Value;

fn vectors() -> Value {
    tokenwarden_jwt::install();
    serde_json::from_str(include_str!("vectors.json")).expect("vectors.json parses")
}

fn validation(alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.set_audience(&["client-1"]);
    v.set_issuer(&["https://issuer.example"]);
    v
}

fn alg_of(token: &Value) -> Algorithm {
    token["alg"]
        .as_str()
        .unwrap()
        .parse()
        .expect("a known algorithm")
}

fn key_of(token: &Value) -> DecodingKey {
    let jwk: Jwk = serde_json::from_value(token["jwk"].clone()).expect("a JWK");
    DecodingKey::from_jwk(&jwk).expect("a usable key")
}

#[test]
fn tokens_signed_elsewhere_verify() {
    let v = vectors();
    let tokens = v["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 12, "every algorithm jsonwebtoken names");
    for token in tokens {
        let alg = alg_of(token);
        let jwt = token["jwt"].as_str().unwrap();
        let data = decode::<Value>(jwt, &key_of(token), &validation(alg))
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!(data.claims, v["claims"], "{alg:?}");
    }
}

#[test]
fn a_changed_signature_or_payload_is_refused() {
    let v = vectors();
    for token in v["tokens"].as_array().unwrap() {
        let alg = alg_of(token);
        let jwt = token["jwt"].as_str().unwrap();
        let key = key_of(token);
        // The signature's first character changed (to another valid base64url one).
        let dot = jwt.rfind('.').unwrap();
        let first = jwt.as_bytes()[dot + 1];
        let other = if first == b'A' { 'B' } else { 'A' };
        let bad_sig = format!("{}.{other}{}", &jwt[..dot], &jwt[dot + 2..]);
        let err = decode::<Value>(&bad_sig, &key, &validation(alg)).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                jsonwebtoken::errors::ErrorKind::InvalidSignature
            ),
            "{alg:?}: {err:?}"
        );
        // Another payload under the same signature.
        let parts: Vec<&str> = jwt.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], "eyJzdWIiOiJhZG1pbiJ9", parts[2]);
        assert!(
            decode::<Value>(&forged, &key, &validation(alg)).is_err(),
            "{alg:?}"
        );
    }
}

#[test]
fn a_key_of_another_family_is_refused() {
    let v = vectors();
    let tokens = v["tokens"].as_array().unwrap();
    let es256 = tokens.iter().find(|t| t["alg"] == "ES256").unwrap();
    let rs256 = tokens.iter().find(|t| t["alg"] == "RS256").unwrap();
    // An RSA key for an ES256 token, and an EC key for an RS256 one.
    let err = decode::<Value>(
        es256["jwt"].as_str().unwrap(),
        &key_of(rs256),
        &validation(Algorithm::ES256),
    );
    assert!(err.is_err());
    let err = decode::<Value>(
        rs256["jwt"].as_str().unwrap(),
        &key_of(es256),
        &validation(Algorithm::RS256),
    );
    assert!(err.is_err());
}

#[test]
fn rsa_tokens_signed_here_verify_with_the_public_key_in_both_forms() {
    let v = vectors();
    let private = STANDARD
        .decode(v["rsa_private_pkcs1"].as_str().unwrap())
        .unwrap();
    let public = STANDARD
        .decode(v["rsa_public_pkcs1"].as_str().unwrap())
        .unwrap();
    let encoding = EncodingKey::from_rsa_der(&private);
    let jwk = Jwk::from_encoding_key(&encoding, Algorithm::RS256).expect("a JWK of the key");
    let rs = v["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["alg"] == "RS256")
        .unwrap();
    assert_eq!(
        serde_json::to_value(&jwk).unwrap()["n"],
        rs["jwk"]["n"],
        "the modulus ring reads from the private key"
    );
    for alg in [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
    ] {
        let jwt = jsonwebtoken::encode(&Header::new(alg), &v["claims"], &encoding)
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        for key in [
            DecodingKey::from_jwk(&jwk).unwrap(),
            DecodingKey::from_rsa_der(&public),
        ] {
            decode::<Value>(&jwt, &key, &validation(alg))
                .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        }
    }
}
