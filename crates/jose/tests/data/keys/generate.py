#!/usr/bin/env python3
"""Regenerates the openssl-made fixtures in this folder (test keys only: never use them).

Run from this folder: `python3 generate.py`. Needs `openssl` (3.x) on PATH. The tests only
read the files; they never run this script. Keys and signatures change on every run, so
regenerate everything at once and commit the lot.
"""

import base64
import json
import subprocess


def run(*args, data=None):
    return subprocess.run(args, input=data, check=True, capture_output=True).stdout


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def write(name, data):
    with open(name, "wb") as f:
        f.write(data)


def genpkey(name, *opts):
    write(name, run("openssl", "genpkey", *opts))


# Private keys as PKCS#8 ("PRIVATE KEY"), then the other encodings derived from them.
genpkey("rsa2048-pkcs8.pem", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048")
genpkey("rsa1024-pkcs8.pem", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024")
genpkey("rsa8192-pkcs8.pem", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:8192")
genpkey("p256-pkcs8.pem", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
genpkey("p384-pkcs8.pem", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384")
genpkey("ed25519-pkcs8.pem", "-algorithm", "ED25519")

# PKCS#1 ("RSA PRIVATE KEY", "RSA PUBLIC KEY") and SEC1 ("EC PRIVATE KEY").
write("rsa2048-pkcs1.pem", run("openssl", "rsa", "-in", "rsa2048-pkcs8.pem", "-traditional"))
write("rsa2048-pkcs1-public.pem",
      run("openssl", "rsa", "-in", "rsa2048-pkcs8.pem", "-RSAPublicKey_out"))
write("p256-sec1.pem", run("openssl", "ec", "-in", "p256-pkcs8.pem"))
write("p384-sec1.pem", run("openssl", "ec", "-in", "p384-pkcs8.pem"))
# An encrypted PKCS#8 document: a label the library does not read.
write("rsa2048-encrypted.pem",
      run("openssl", "pkcs8", "-topk8", "-in", "rsa2048-pkcs8.pem", "-v2", "aes-256-cbc",
          "-passout", "pass:test"))

# Public keys as SubjectPublicKeyInfo ("PUBLIC KEY").
for k in ["rsa2048", "rsa1024", "rsa8192", "p256", "p384", "ed25519"]:
    write(f"{k}-spki.pem", run("openssl", "pkey", "-in", f"{k}-pkcs8.pem", "-pubout"))


def der_to_raw(der, size):
    """ECDSA-Sig-Value (SEQUENCE of two INTEGERs) to fixed-length r||s (RFC 7518 §3.4)."""
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 3
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        v = der[i + 2:i + 2 + n].lstrip(b"\0")
        out += v.rjust(size, b"\0")
        i += 2 + n
    return out


# Compact JWS tokens signed by openssl, for interoperability tests.
payload = b'{"iss":"openssl","sub":"interop","iat":1700000000,"exp":1700000900}'
tokens = {}


def token(name, alg, sign):
    header = json.dumps({"alg": alg, "typ": "JWT"}, separators=(",", ":")).encode()
    signing_input = f"{b64url(header)}.{b64url(payload)}".encode()
    with open("/tmp/tessera-signing-input", "wb") as f:
        f.write(signing_input)
    tokens[name] = {"alg": alg, "token": f"{signing_input.decode()}.{b64url(sign())}"}


def dgst(digest, key, *opts):
    return lambda: run("openssl", "dgst", f"-{digest}", *opts, "-sign", key,
                       "/tmp/tessera-signing-input")


token("RS256", "RS256", dgst("sha256", "rsa2048-pkcs8.pem"))
token("RS512-8192", "RS512", dgst("sha512", "rsa8192-pkcs8.pem"))
token("PS256", "PS256", dgst("sha256", "rsa2048-pkcs8.pem", "-sigopt", "rsa_padding_mode:pss",
                             "-sigopt", "rsa_pss_saltlen:digest"))
token("ES256", "ES256", lambda: der_to_raw(dgst("sha256", "p256-pkcs8.pem")(), 32))
token("ES384", "ES384", lambda: der_to_raw(dgst("sha384", "p384-pkcs8.pem")(), 48))
token("EdDSA", "EdDSA", lambda: run("openssl", "pkeyutl", "-sign", "-inkey", "ed25519-pkcs8.pem",
                                     "-rawin", "-in", "/tmp/tessera-signing-input"))
# The same P-256 signature left in openssl's DER form: a verifier must refuse it.
token("ES256-der", "ES256", dgst("sha256", "p256-pkcs8.pem"))

doc = {
    "about": "Compact JWS tokens signed by openssl over payload_text with the keys of this "
             "folder (made by generate.py). ES256/ES384 signatures were converted from DER to "
             "r||s; ES256-der keeps openssl's DER form and must be refused.",
    "payload_text": payload.decode(),
    "keys": {"RS256": "rsa2048", "RS512-8192": "rsa8192", "PS256": "rsa2048", "ES256": "p256",
             "ES384": "p384", "EdDSA": "ed25519", "ES256-der": "p256"},
    "tokens": tokens,
}
write("openssl-tokens.json", (json.dumps(doc, indent=2) + "\n").encode())
