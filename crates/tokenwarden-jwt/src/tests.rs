//! Round trips with keys ring makes: what the provider signs, it verifies with the key's
//! published form, and nothing else.

use super::*;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Header, Validation, decode, encode};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair as _,
};
use serde_json::{Value, json};

fn claims() -> Value {
    json!({"sub": "user-1", "aud": "client-1", "exp": 4102444800u64})
}

fn validation(alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.set_audience(&["client-1"]);
    v
}

#[test]
fn ecdsa_signs_and_verifies_through_the_keys_jwk() {
    install();
    let rng = SystemRandom::new();
    for (alg, signing) in [
        (Algorithm::ES256, &ECDSA_P256_SHA256_FIXED_SIGNING),
        (Algorithm::ES384, &ECDSA_P384_SHA384_FIXED_SIGNING),
    ] {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(signing, &rng).unwrap();
        let encoding = EncodingKey::from_ec_der(pkcs8.as_ref());
        let jwt = encode(&Header::new(alg), &claims(), &encoding).unwrap();
        let jwk = Jwk::from_encoding_key(&encoding, alg).unwrap();
        let data = decode::<Value>(
            &jwt,
            &DecodingKey::from_jwk(&jwk).unwrap(),
            &validation(alg),
        );
        assert_eq!(data.unwrap().claims, claims(), "{alg:?}");
        // Another key of the same curve does not verify it.
        let other = EcdsaKeyPair::generate_pkcs8(signing, &rng).unwrap();
        let other = Jwk::from_encoding_key(&EncodingKey::from_ec_der(other.as_ref()), alg).unwrap();
        let err = decode::<Value>(
            &jwt,
            &DecodingKey::from_jwk(&other).unwrap(),
            &validation(alg),
        );
        assert!(err.is_err(), "{alg:?}");
    }
}

#[test]
fn the_thumbprint_of_a_jwk_is_rfc_7638s() {
    install();
    // RFC 7638 §3.1's example key and thumbprint.
    let jwk: Jwk = serde_json::from_value(json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    }))
    .unwrap();
    assert_eq!(
        jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
}

#[test]
fn ed25519_signs_and_verifies() {
    install();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let jwt = encode(
        &Header::new(Algorithm::EdDSA),
        &claims(),
        &EncodingKey::from_ed_der(pkcs8.as_ref()),
    )
    .unwrap();
    use base64::Engine as _;
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
    let key = DecodingKey::from_ed_components(&x).unwrap();
    let data = decode::<Value>(&jwt, &key, &validation(Algorithm::EdDSA)).unwrap();
    assert_eq!(data.claims, claims());
}

#[test]
fn hmac_verifies_only_with_its_secret() {
    install();
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let jwt = encode(
            &Header::new(alg),
            &claims(),
            &EncodingKey::from_secret(b"s3cret"),
        )
        .unwrap();
        assert!(
            decode::<Value>(&jwt, &DecodingKey::from_secret(b"s3cret"), &validation(alg)).is_ok()
        );
        assert!(
            decode::<Value>(&jwt, &DecodingKey::from_secret(b"other"), &validation(alg)).is_err()
        );
    }
}

#[test]
fn a_key_that_is_not_one_is_an_error_not_a_panic() {
    install();
    let garbage = EncodingKey::from_ec_der(b"not a key");
    assert!(encode(&Header::new(Algorithm::ES256), &claims(), &garbage).is_err());
    assert!(Jwk::from_encoding_key(&garbage, Algorithm::ES256).is_err());
    let rsa = EncodingKey::from_rsa_der(b"not a key either");
    assert!(encode(&Header::new(Algorithm::RS256), &claims(), &rsa).is_err());
    let ed = EncodingKey::from_ed_der(&[0u8; 3]);
    assert!(encode(&Header::new(Algorithm::EdDSA), &claims(), &ed).is_err());
    // An EC key offered for an RSA algorithm.
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .unwrap();
    let ec = EncodingKey::from_ec_der(pkcs8.as_ref());
    assert!(encode(&Header::new(Algorithm::RS256), &claims(), &ec).is_err());
}
