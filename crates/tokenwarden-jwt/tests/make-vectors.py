#!/usr/bin/env python3
"""Writes vectors.json: JWTs signed by an independent implementation (Python's `cryptography`)
with fresh keys, and the public JWK of each, for every asymmetric algorithm and HS256; plus
the RSA key's PKCS#1 private key, so that the tests can also sign with it. The tests check that
the ring provider verifies each, and refuses each once a byte of the signature changes.

    python3 crates/tokenwarden-jwt/tests/make-vectors.py > crates/tokenwarden-jwt/tests/vectors.json
"""
import base64, json, os
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.hazmat.primitives import hmac as hm

def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
def uint(n, width=None):
    width = width or (n.bit_length() + 7) // 8
    return n.to_bytes(width, "big")

claims = {"iss": "https://issuer.example", "sub": "user-1", "aud": "client-1", "exp": 4102444800, "iat": 1700000000}
def signing_input(alg, kid):
    header = {"alg": alg, "typ": "JWT", "kid": kid}
    return (b64(json.dumps(header, separators=(",", ":")).encode()) + "." + b64(json.dumps(claims, separators=(",", ":")).encode())).encode()

out = {"claims": claims, "tokens": []}
rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
pub = rsa_key.public_key().public_numbers()
rsa_jwk = {"kty": "RSA", "n": b64(uint(pub.n)), "e": b64(uint(pub.e))}
out["rsa_private_pkcs1"] = base64.b64encode(rsa_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())).decode()
out["rsa_public_pkcs1"] = base64.b64encode(rsa_key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)).decode()
for alg, h in [("RS256", hashes.SHA256()), ("RS384", hashes.SHA384()), ("RS512", hashes.SHA512())]:
    msg = signing_input(alg, "rsa")
    sig = rsa_key.sign(msg, padding.PKCS1v15(), h)
    out["tokens"].append({"alg": alg, "jwk": dict(rsa_jwk, kid="rsa"), "jwt": msg.decode() + "." + b64(sig)})
for alg, h in [("PS256", hashes.SHA256()), ("PS384", hashes.SHA384()), ("PS512", hashes.SHA512())]:
    msg = signing_input(alg, "rsa")
    sig = rsa_key.sign(msg, padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), h)
    out["tokens"].append({"alg": alg, "jwk": dict(rsa_jwk, kid="rsa"), "jwt": msg.decode() + "." + b64(sig)})
for alg, curve, crv, h, width in [("ES256", ec.SECP256R1(), "P-256", hashes.SHA256(), 32), ("ES384", ec.SECP384R1(), "P-384", hashes.SHA384(), 48)]:
    key = ec.generate_private_key(curve)
    nums = key.public_key().public_numbers()
    jwk = {"kty": "EC", "crv": crv, "x": b64(uint(nums.x, width)), "y": b64(uint(nums.y, width)), "kid": "ec"}
    msg = signing_input(alg, "ec")
    r, s = utils.decode_dss_signature(key.sign(msg, ec.ECDSA(h)))
    out["tokens"].append({"alg": alg, "jwk": jwk, "jwt": msg.decode() + "." + b64(uint(r, width) + uint(s, width))})
ed = ed25519.Ed25519PrivateKey.generate()
ed_pub = ed.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
msg = signing_input("EdDSA", "ed")
out["tokens"].append({"alg": "EdDSA", "jwk": {"kty": "OKP", "crv": "Ed25519", "x": b64(ed_pub), "kid": "ed"}, "jwt": msg.decode() + "." + b64(ed.sign(msg))})
secret = os.urandom(32)
for alg, h in [("HS256", hashes.SHA256()), ("HS384", hashes.SHA384()), ("HS512", hashes.SHA512())]:
    msg = signing_input(alg, "oct")
    mac = hm.HMAC(secret, h); mac.update(msg)
    out["tokens"].append({"alg": alg, "jwk": {"kty": "oct", "k": b64(secret), "kid": "oct"}, "jwt": msg.decode() + "." + b64(mac.finalize())})
print(json.dumps(out, indent=1))
