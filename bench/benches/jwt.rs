//! Signing and verifying a JWT, side by side: jsonwebtoken's own pure-Rust cryptography
//! (RustCrypto's p256 and rsa crates, its `rust_crypto` backend, which the product used before)
//! and tokenwarden-jwt's provider on ring (which it uses now).
//!
//! - `verify ES256` / `verify RS256`: the signature check of an ID token, which every login
//!   and every refresh that returns one pays (tokens and keys from tokenwarden-jwt's test
//!   vectors, signed by Python's `cryptography`);
//! - `sign ES256`: what mockauth pays for each ID token it issues.
//!
//! Each call goes through the provider's factory, as jsonwebtoken's `decode` and `encode` do
//! (the key is parsed every time). Run with `cargo bench --bench jwt` in `bench/`.

use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use serde_json::Value;
use std::hint::black_box;

const PROVIDERS: [(&str, &CryptoProvider); 2] = [
    (
        "rust_crypto",
        &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER,
    ),
    ("ring", &tokenwarden_jwt::PROVIDER),
];

/// A token of the test vectors: its signing input, signature and key.
fn vector(alg: &str) -> (Vec<u8>, Vec<u8>, DecodingKey) {
    let vectors: Value = serde_json::from_str(include_str!(
        "../../crates/tokenwarden-jwt/tests/vectors.json"
    ))
    .expect("the test vectors parse");
    let token = vectors["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["alg"] == alg)
        .expect("a token of the algorithm");
    let jwt = token["jwt"].as_str().expect("jwt");
    let dot = jwt.rfind('.').expect("three parts");
    let jwk: Jwk = serde_json::from_value(token["jwk"].clone()).expect("a JWK");
    use base64::Engine as _;
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&jwt[dot + 1..])
        .expect("base64url");
    (
        jwt.as_bytes()[..dot].to_vec(),
        sig,
        DecodingKey::from_jwk(&jwk).expect("a key"),
    )
}

fn jwt(c: &mut Criterion) {
    for (alg, algorithm) in [("ES256", Algorithm::ES256), ("RS256", Algorithm::RS256)] {
        let (msg, sig, key) = vector(alg);
        let mut group = c.benchmark_group(format!("verify {alg}"));
        for (name, provider) in PROVIDERS {
            group.bench_function(name, |b| {
                b.iter(|| {
                    let verifier = (provider.verifier_factory)(&algorithm, &key).expect("verifier");
                    verifier.verify(black_box(&msg), &sig).expect("verifies");
                })
            });
        }
        group.finish();
    }
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .expect("a key");
    let key = EncodingKey::from_ec_der(pkcs8.as_ref());
    let msg = b"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ";
    let mut group = c.benchmark_group("sign ES256");
    for (name, provider) in PROVIDERS {
        group.bench_function(name, |b| {
            b.iter(|| {
                let signer = (provider.signer_factory)(&Algorithm::ES256, &key).expect("signer");
                black_box(signer.try_sign(black_box(msg)).expect("signs"));
            })
        });
    }
    group.finish();
}

criterion_group!(benches, jwt);
criterion_main!(benches);
