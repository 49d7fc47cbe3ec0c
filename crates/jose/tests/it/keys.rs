//! Keys: JWK and JWKS import/export (RFC 7517), PEM and DER (PKCS#8, PKCS#1, SEC1, SPKI),
//! RFC 7638 thumbprints, generation, and the import rules of docs/security.md. Fixtures under
//! `tests/data/keys/` were made by openssl (`generate.py` there); the interop tests also run
//! `openssl` on what we export.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use tessera_jose::{
    sign_jws, signing_key_from_text, verifying_key_from_text, Algorithm, Family, Header, Jwk,
    JwkSet, PublicKey, Signer, SigningKey, Verifier, VerifyingKey,
};

use crate::{
    b64, data_file, ecdsa_to_der, pem_to_der, signer, signers, valid_claims, verifier_for, NOW,
};

fn asymmetric() -> impl Iterator<Item = Algorithm> {
    Algorithm::ALL
        .into_iter()
        .filter(|a| a.family() != Family::Hmac)
}

/// Names every secret member value of a private JWK.
fn secret_values(jwk: &Jwk) -> Vec<String> {
    [&jwk.d, &jwk.p, &jwk.q, &jwk.dp, &jwk.dq, &jwk.qi, &jwk.k]
        .into_iter()
        .flatten()
        .map(|s| s.expose_secret().to_owned())
        .collect()
}

#[test]
fn jwk_round_trip_for_every_algorithm() {
    for s in signers() {
        let key = s.key();
        let alg = key.alg();
        let text = key.to_jwk().to_json();
        let back = SigningKey::from_jwk(&Jwk::from_json(&text).expect("parses"), None)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(back.alg(), alg);
        assert_eq!(back.kid(), key.kid());
        assert_eq!(
            back.thumbprint().expect("tp"),
            key.thumbprint().expect("tp")
        );
        // The re-imported key signs tokens the original's verifier accepts.
        let token = Signer::new(back).sign(&valid_claims()).expect("sign");
        verifier_for(key)
            .verify::<Value>(&token, NOW)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        // And the public JWK verifies the original's tokens.
        let token = s.sign(&valid_claims()).expect("sign");
        let verifying = match key.public_jwk() {
            Ok(public) => {
                assert!(!public.is_private(), "{alg}");
                assert!(secret_values(&public).is_empty(), "{alg}");
                let public = Jwk::from_json(&public.to_json()).expect("parses");
                VerifyingKey::from_jwk(&public, None).expect("public JWK")
            }
            Err(e) => {
                assert_eq!(alg.family(), Family::Hmac);
                assert_eq!(e.code(), "invalid_key");
                key.verifying_key().expect("same secret")
            }
        };
        Verifier::new(verifying)
            .verify::<Value>(&token, NOW)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
    }
}

#[test]
fn pem_round_trip_for_every_asymmetric_algorithm() {
    for alg in asymmetric() {
        let s = signer(alg);
        let pem = s.key().to_pem().expect("PKCS#8");
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{alg}");
        let back = SigningKey::from_pem(pem.as_bytes(), alg).expect("PKCS#8 back");
        assert_eq!(
            back.thumbprint().expect("tp"),
            s.key().thumbprint().expect("tp")
        );
        let back = SigningKey::from_pkcs8_der(&pem_to_der(&pem), alg).expect("DER back");
        assert_eq!(
            back.thumbprint().expect("tp"),
            s.key().thumbprint().expect("tp")
        );

        let public = s.key().verifying_key().expect("pk").to_pem().expect("SPKI");
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{alg}");
        let token = s.sign(&valid_claims()).expect("sign");
        for vk in [
            VerifyingKey::from_pem(public.as_bytes(), alg).expect("SPKI back"),
            VerifyingKey::from_spki_der(&pem_to_der(&public), alg).expect("SPKI DER back"),
            // The public half of a private PEM.
            VerifyingKey::from_pem(pem.as_bytes(), alg).expect("private PEM as public"),
        ] {
            assert_eq!(
                vk.thumbprint().expect("tp"),
                s.key().thumbprint().expect("tp")
            );
            Verifier::new(vk)
                .verify::<Value>(&token, NOW)
                .expect("verify via PEM");
        }
    }
    // HMAC secrets have no PEM form.
    let hs = signer(Algorithm::HS256).key();
    assert_eq!(hs.to_pem().expect_err("no PEM").code(), "invalid_key");
    let vk = hs.verifying_key().expect("vk");
    assert_eq!(vk.to_pem().expect_err("no PEM").code(), "invalid_key");
}

#[test]
fn generated_keys_follow_the_spec() {
    for s in signers() {
        let key = s.key();
        let alg = key.alg();
        let jwk = key.to_jwk();
        // `tessera keys generate`: alg, kid = RFC 7638 thumbprint, use = sig.
        assert_eq!(jwk.alg.as_deref(), Some(alg.as_str()));
        assert_eq!(jwk.use_.as_deref(), Some("sig"));
        assert_eq!(key.kid(), Some(key.thumbprint().expect("tp").as_str()));
        assert_eq!(jwk.crv.as_deref(), alg.curve());
        assert!(jwk.is_private());
        let len = |v: &Option<String>| {
            tessera_jose::base64url::decode(v.as_deref().expect("member").as_bytes())
                .expect("b64")
                .len()
        };
        match alg.family() {
            Family::Hmac => {
                let k = jwk.k.as_ref().expect("k").expose_secret().to_owned();
                assert_eq!(Some(len(&Some(k))), alg.min_secret_len(), "{alg}");
            }
            Family::Rsa => {
                assert_eq!(len(&jwk.n), 256, "RSA 2048");
                assert_eq!(jwk.e.as_deref(), Some("AQAB"));
            }
            Family::Ec => {
                let size = if alg == Algorithm::ES256 { 32 } else { 48 };
                assert_eq!((len(&jwk.x), len(&jwk.y)), (size, size), "{alg}");
            }
            Family::Okp => assert_eq!(len(&jwk.x), 32),
        }
    }
    // Two generations differ.
    let a = SigningKey::generate(Algorithm::HS256).expect("gen");
    let b = SigningKey::generate(Algorithm::HS256).expect("gen");
    assert_ne!(a.thumbprint().expect("tp"), b.thumbprint().expect("tp"));
}

#[test]
fn debug_output_never_shows_secret_material() {
    for s in signers() {
        let key = s.key();
        let jwk = key.to_jwk();
        let secrets = secret_values(&jwk);
        assert!(!secrets.is_empty(), "{}", key.alg());
        let set = JwkSet {
            keys: vec![jwk.clone()],
        };
        let printed = [
            format!("{key:?}"),
            format!("{:?}", key.verifying_key().expect("vk")),
            format!("{jwk:?}"),
            format!("{set:?}"),
            format!("{s:?}"),
        ];
        for text in &printed {
            for secret in &secrets {
                // Compare on a prefix: a printed secret would show its start.
                assert!(!text.contains(&secret[..16]), "{} leaks: {text}", key.alg());
            }
        }
        if let Some(d) = &jwk.d {
            assert_eq!(format!("{d:?}"), "[redacted]");
        }
    }
}

/// openssl-made key files and the algorithms they are imported for.
const OPENSSL_PRIVATE: [(&str, &str, Algorithm); 9] = [
    ("rsa2048-pkcs8.pem", "rsa2048", Algorithm::RS256),
    ("rsa2048-pkcs8.pem", "rsa2048", Algorithm::PS512),
    ("rsa2048-pkcs1.pem", "rsa2048", Algorithm::RS384),
    ("p256-pkcs8.pem", "p256", Algorithm::ES256),
    ("p256-sec1.pem", "p256", Algorithm::ES256),
    ("p384-pkcs8.pem", "p384", Algorithm::ES384),
    ("p384-sec1.pem", "p384", Algorithm::ES384),
    ("ed25519-pkcs8.pem", "ed25519", Algorithm::EdDSA),
    ("rsa8192-pkcs8.pem", "rsa8192", Algorithm::RS512),
];

#[test]
fn openssl_made_keys_import() {
    for (file, base, alg) in OPENSSL_PRIVATE {
        let pem = data_file(&format!("keys/{file}"));
        let key = SigningKey::from_pem(pem.as_bytes(), alg)
            .unwrap_or_else(|e| panic!("{file} as {alg}: {e}"));
        let by_text = signing_key_from_text(pem.as_bytes(), Some(alg)).expect("from text");
        let spki = data_file(&format!("keys/{base}-spki.pem"));
        let public = VerifyingKey::from_pem(spki.as_bytes(), alg).expect("SPKI");
        let tp = key.thumbprint().expect("tp");
        assert_eq!(public.thumbprint().expect("tp"), tp, "{file}");
        assert_eq!(by_text.thumbprint().expect("tp"), tp, "{file}");
        // Sign with the imported private key, verify with the imported public key.
        let token = Signer::new(key).sign(&valid_claims()).expect("sign");
        Verifier::new(public)
            .verify::<Value>(&token, NOW)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    // PKCS#1 public keys ("RSA PUBLIC KEY") name the same key as the SPKI document.
    let pkcs1 = data_file("keys/rsa2048-pkcs1-public.pem");
    let spki = data_file("keys/rsa2048-spki.pem");
    let a = VerifyingKey::from_pem(pkcs1.as_bytes(), Algorithm::RS256).expect("PKCS#1 public");
    let b = verifying_key_from_text(spki.as_bytes(), Some(Algorithm::RS256)).expect("SPKI");
    assert_eq!(a.thumbprint().expect("tp"), b.thumbprint().expect("tp"));
}

#[test]
fn openssl_signed_tokens_verify() {
    let doc: Value = serde_json::from_str(&data_file("keys/openssl-tokens.json")).expect("json");
    let payload = doc["payload_text"].as_str().expect("payload");
    let tokens = doc["tokens"].as_object().expect("tokens");
    assert_eq!(tokens.len(), 7);
    for (name, t) in tokens {
        if name == "ES256-der" {
            continue; // an attack, see attacks::ecdsa_der_encoded_signature_is_refused
        }
        let alg: Algorithm = t["alg"].as_str().expect("alg").parse().expect("alg");
        let base = doc["keys"][name].as_str().expect("key name");
        let spki = data_file(&format!("keys/{base}-spki.pem"));
        let verifier = Verifier::new(VerifyingKey::from_pem(spki.as_bytes(), alg).expect("key"));
        let token = t["token"].as_str().expect("token");
        let verified = verifier
            .verify::<Value>(token, NOW)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(verified.claims()["sub"], "interop");
        assert_eq!(
            verifier.verify_jws(token).expect("raw").payload,
            payload.as_bytes()
        );
    }
    // RSA-8192 makes the longest signature we accept (1024 bytes).
    let long = tokens["RS512-8192"]["token"].as_str().expect("token");
    let sig = long.rsplit_once('.').expect("dots").1;
    assert_eq!(
        tessera_jose::base64url::decode(sig.as_bytes())
            .expect("sig")
            .len(),
        1024
    );
}

/// Runs `openssl` with `args` and `stdin`; panics with openssl's message when it fails.
fn openssl(args: &[&str], stdin: &[u8]) -> Result<Vec<u8>, String> {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("these interop tests need `openssl` on PATH: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write to openssl");
    let out = child.wait_with_output().expect("openssl runs");
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn openssl_reads_our_exported_pems() {
    for alg in asymmetric() {
        let key = signer(alg).key();
        let private = key.to_pem().expect("PKCS#8");
        let public = key.verifying_key().expect("vk").to_pem().expect("SPKI");
        // openssl derives from our private key exactly the public key we export.
        let derived = openssl(&["pkey", "-pubout"], private.as_bytes())
            .unwrap_or_else(|e| panic!("{alg}: openssl refused our PKCS#8: {e}"));
        assert_eq!(String::from_utf8_lossy(&derived), public, "{alg}");
        openssl(&["pkey", "-pubin", "-noout"], public.as_bytes())
            .unwrap_or_else(|e| panic!("{alg}: openssl refused our SPKI: {e}"));
    }
    // The check can fail: openssl refuses a damaged document.
    let public = signer(Algorithm::ES256).key().verifying_key().expect("vk");
    let damaged = public.to_pem().expect("SPKI").replacen("MF", "MG", 1);
    assert!(openssl(&["pkey", "-pubin", "-noout"], damaged.as_bytes()).is_err());
}

/// Asks openssl to verify a JWS signature made by us.
fn openssl_verifies(alg: Algorithm, public_pem: &str, token: &str, tag: &str) -> bool {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let file = |name: &str| dir.join(format!("openssl-{alg}-{tag}-{name}"));
    let (input, sig) = token.rsplit_once('.').expect("dots");
    let mut sig = tessera_jose::base64url::decode(sig.as_bytes()).expect("sig");
    if alg.family() == Family::Ec {
        sig = ecdsa_to_der(&sig);
    }
    std::fs::write(file("key.pem"), public_pem).expect("write");
    std::fs::write(file("input"), input).expect("write");
    std::fs::write(file("sig"), &sig).expect("write");
    let path = |name: &str| file(name).to_string_lossy().into_owned();
    let digest = match alg {
        Algorithm::RS256 | Algorithm::PS256 | Algorithm::ES256 => "-sha256",
        Algorithm::RS384 | Algorithm::PS384 | Algorithm::ES384 => "-sha384",
        _ => "-sha512",
    };
    let (key, input, sig) = (path("key.pem"), path("input"), path("sig"));
    let mut args = vec![];
    if alg == Algorithm::EdDSA {
        args.extend(["pkeyutl", "-verify", "-pubin", "-inkey", &key, "-rawin"]);
        args.extend(["-in", &input, "-sigfile", &sig]);
    } else {
        args.extend(["dgst", digest, "-verify", &key, "-signature", &sig]);
        if matches!(alg, Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512) {
            // RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash.
            args.extend(["-sigopt", "rsa_padding_mode:pss"]);
            args.extend(["-sigopt", "rsa_pss_saltlen:digest"]);
        }
        args.push(&input);
    }
    openssl(&args, b"").is_ok()
}

#[test]
fn openssl_verifies_our_signatures() {
    for alg in asymmetric() {
        let s = signer(alg);
        let public = s.key().verifying_key().expect("vk").to_pem().expect("SPKI");
        let token = s.sign(&valid_claims()).expect("sign");
        assert!(openssl_verifies(alg, &public, &token, "good"), "{alg}");
        // And refuses it once tampered, so the check above can fail.
        let tampered = token.replacen("eyJ", "eyK", 2);
        assert!(!openssl_verifies(alg, &public, &tampered, "bad"), "{alg}");
    }
}

#[test]
fn rsa_under_2048_bits_is_refused() {
    let private = data_file("keys/rsa1024-pkcs8.pem");
    let public = data_file("keys/rsa1024-spki.pem");
    let err = SigningKey::from_pem(private.as_bytes(), Algorithm::RS256).expect_err("1024");
    assert_eq!(err.code(), "invalid_key");
    let err = VerifyingKey::from_pem(public.as_bytes(), Algorithm::PS256).expect_err("1024");
    assert_eq!(err.code(), "invalid_key");
    // As a JWK: a 2048-bit modulus with its top byte cut off is 2040 bits.
    let jwk = signer(Algorithm::RS256).key().public_jwk().expect("public");
    let n = tessera_jose::base64url::decode(jwk.n.as_deref().expect("n").as_bytes()).expect("n");
    let short = Jwk {
        n: Some(b64(&n[1..])),
        kid: None,
        ..jwk
    };
    let err = VerifyingKey::from_jwk(&short, None).expect_err("2040 bits");
    assert_eq!(err.code(), "invalid_key");
}

#[test]
fn pem_must_fit_the_algorithm() {
    for (file, alg) in [
        ("p256-sec1.pem", Algorithm::RS256),
        ("p256-pkcs8.pem", Algorithm::ES384),
        ("p256-spki.pem", Algorithm::ES384),
        ("p384-pkcs8.pem", Algorithm::ES256),
        ("p384-sec1.pem", Algorithm::ES256),
        ("rsa2048-pkcs1.pem", Algorithm::ES256),
        ("rsa2048-pkcs8.pem", Algorithm::EdDSA),
        ("rsa2048-pkcs1-public.pem", Algorithm::ES256),
        ("ed25519-pkcs8.pem", Algorithm::ES256),
        ("ed25519-spki.pem", Algorithm::RS256),
        ("rsa2048-spki.pem", Algorithm::HS256),
        ("p256-pkcs8.pem", Algorithm::HS256),
        // Encrypted PKCS#8 is not read (no passwords in this library).
        ("rsa2048-encrypted.pem", Algorithm::RS256),
    ] {
        let pem = data_file(&format!("keys/{file}"));
        let err = VerifyingKey::from_pem(pem.as_bytes(), alg).expect_err(file);
        assert_eq!(err.code(), "invalid_key", "{file} as {alg}");
        let err = SigningKey::from_pem(pem.as_bytes(), alg).expect_err(file);
        assert_eq!(err.code(), "invalid_key", "{file} as {alg}");
    }
    // A public key cannot sign.
    let spki = data_file("keys/p256-spki.pem");
    let err = SigningKey::from_pem(spki.as_bytes(), Algorithm::ES256).expect_err("public");
    assert_eq!(err.code(), "invalid_key");
    // Other labels and broken documents.
    let p256 = data_file("keys/p256-spki.pem");
    for text in [
        p256.replace("PUBLIC KEY", "CERTIFICATE"),
        p256.replace("-----END PUBLIC KEY-----", ""),
        p256.replacen("MF", "M!", 1),
        "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n".into(),
    ] {
        let err = VerifyingKey::from_pem(text.as_bytes(), Algorithm::ES256).expect_err("bad");
        assert_eq!(err.code(), "invalid_key", "{text}");
    }
    // DER of the wrong kind.
    let der = pem_to_der(&data_file("keys/p256-spki.pem"));
    let err = SigningKey::from_pkcs8_der(&der, Algorithm::ES256).expect_err("SPKI as PKCS#8");
    assert_eq!(err.code(), "invalid_key");
    let der = pem_to_der(&data_file("keys/p256-pkcs8.pem"));
    let err = VerifyingKey::from_spki_der(&der, Algorithm::ES256).expect_err("PKCS#8 as SPKI");
    assert_eq!(err.code(), "invalid_key");
}

#[test]
fn pem_keys_need_an_algorithm() {
    let pem = data_file("keys/p256-pkcs8.pem");
    let err = signing_key_from_text(pem.as_bytes(), None).expect_err("PEM has no alg");
    assert_eq!(err.code(), "invalid_key");
    let spki = data_file("keys/p256-spki.pem");
    let err = verifying_key_from_text(spki.as_bytes(), None).expect_err("PEM has no alg");
    assert_eq!(err.code(), "invalid_key");
    // A JWK that carries its alg needs none; leading whitespace still reads as PEM.
    let jwk = signer(Algorithm::PS384).key().to_jwk().to_json();
    let key = signing_key_from_text(jwk.as_bytes(), None).expect("JWK names its alg");
    assert_eq!(key.alg(), Algorithm::PS384);
    // Whitespace around the armor (an indented paste, blank lines after END) is skipped.
    for text in [
        format!("\n  {pem}"),
        format!("{pem}\n\n"),
        format!("{pem}  \n"),
    ] {
        signing_key_from_text(text.as_bytes(), Some(Algorithm::ES256)).expect("PEM");
        let spki_text = text.replace(&pem, &spki);
        verifying_key_from_text(spki_text.as_bytes(), Some(Algorithm::ES256)).expect("PEM");
    }
    // Anything else outside the armor is not.
    let trailing = format!("{pem}comment\n");
    let err = signing_key_from_text(trailing.as_bytes(), Some(Algorithm::ES256)).expect_err("");
    assert_eq!(err.code(), "invalid_key");
    let err = verifying_key_from_text(b"\xff\xfe", None).expect_err("not UTF-8");
    assert_eq!(err.code(), "invalid_key");
}

/// PEM carries no algorithm, but a curve names one: P-256 ES256, P-384 ES384, Ed25519
/// EdDSA. RSA names none (RS256 to PS512 all fit) and reads the same without one.
#[test]
fn pem_public_keys_take_their_algorithm_from_the_curve() {
    const RSA: [Algorithm; 6] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
    ];
    for (file, base, named) in [
        ("p256-sec1.pem", "p256", Some(Algorithm::ES256)),
        ("p256-pkcs8.pem", "p256", Some(Algorithm::ES256)),
        ("p256-spki.pem", "p256", Some(Algorithm::ES256)),
        ("p384-sec1.pem", "p384", Some(Algorithm::ES384)),
        ("p384-pkcs8.pem", "p384", Some(Algorithm::ES384)),
        ("p384-spki.pem", "p384", Some(Algorithm::ES384)),
        ("ed25519-pkcs8.pem", "ed25519", Some(Algorithm::EdDSA)),
        ("ed25519-spki.pem", "ed25519", Some(Algorithm::EdDSA)),
        ("rsa2048-pkcs1.pem", "rsa2048", None),
        ("rsa2048-pkcs8.pem", "rsa2048", None),
        ("rsa2048-spki.pem", "rsa2048", None),
        ("rsa2048-pkcs1-public.pem", "rsa2048", None),
    ] {
        let key = PublicKey::from_pem(data_file(&format!("keys/{file}")).as_bytes())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(key.algorithm(), named, "{file}");
        let jwk = key.to_jwk();
        assert_eq!(jwk.alg.as_deref(), named.map(|a| a.as_str()), "{file}");
        assert_eq!(jwk.use_.as_deref(), Some("sig"));
        assert!(!jwk.is_private() && jwk.kid.is_none(), "{file}");
        // The same key as openssl's SPKI, and the same thumbprint as the key bound to an alg.
        let spki = data_file(&format!("keys/{base}-spki.pem"));
        assert_eq!(key.to_pem().expect("SPKI"), spki, "{file}");
        let fits: Vec<Algorithm> = match named {
            Some(alg) => vec![alg],
            None => RSA.to_vec(),
        };
        for &alg in &fits {
            let bound = key
                .bind(alg)
                .unwrap_or_else(|e| panic!("{file} {alg}: {e}"));
            assert_eq!(bound.alg(), alg);
            let known = VerifyingKey::from_pem(spki.as_bytes(), alg).expect("SPKI");
            assert_eq!(bound.thumbprint(), known.thumbprint(), "{file}");
            assert_eq!(key.thumbprint(), known.thumbprint(), "{file}");
        }
        for alg in Algorithm::ALL.into_iter().filter(|a| !fits.contains(a)) {
            let err = key.bind(alg).expect_err("another curve or family");
            assert_eq!(err.code(), "invalid_key", "{file} as {alg}");
        }
    }
    // A bound key verifies what the private key signed.
    let private = data_file("keys/p384-sec1.pem");
    let token =
        Signer::new(SigningKey::from_pem(private.as_bytes(), Algorithm::ES384).expect("key"))
            .sign(&valid_claims())
            .expect("sign");
    let public = PublicKey::from_pem(data_file("keys/p384-spki.pem").as_bytes()).expect("SPKI");
    let bound = public.bind(Algorithm::ES384).expect("ES384");
    Verifier::explicit(bound)
        .verify::<Value>(&token, NOW)
        .expect("verifies");
}

#[test]
fn pem_public_keys_refuse_what_no_algorithm_fits() {
    let p256 = data_file("keys/p256-spki.pem");
    let mut refused = vec![
        data_file("keys/rsa1024-pkcs8.pem"),
        data_file("keys/rsa1024-spki.pem"),
        data_file("keys/rsa2048-encrypted.pem"),
        p256.replace("PUBLIC KEY", "CERTIFICATE"),
        p256.replacen("MF", "M!", 1),
        "{\"kty\":\"EC\"}".to_owned(),
    ];
    // Curves no JOSE algorithm here uses (secp256k1 is ES256K, RFC 8812; not supported).
    for args in [
        &["ecparam", "-name", "secp256k1", "-genkey", "-noout"][..],
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:secp256k1",
        ],
        &["genpkey", "-algorithm", "ed448"],
        &["genpkey", "-algorithm", "x25519"],
    ] {
        let pem = openssl(args, b"").unwrap_or_else(|e| panic!("{args:?}: {e}"));
        let pem = String::from_utf8(pem).expect("PEM");
        let public = openssl(&["pkey", "-pubout"], pem.as_bytes()).expect("public");
        refused.push(pem);
        refused.push(String::from_utf8(public).expect("PEM"));
    }
    for text in refused {
        let err = PublicKey::from_pem(text.as_bytes()).expect_err(&text);
        assert_eq!(err.code(), "invalid_key", "{text}");
    }
}

#[test]
fn jwk_algorithm_binding() {
    let rsa = signer(Algorithm::RS256).key().public_jwk().expect("public");
    // No alg and a kty that does not decide one: the caller must name it.
    let unbound = Jwk {
        alg: None,
        ..rsa.clone()
    };
    let err = VerifyingKey::from_jwk(&unbound, None).expect_err("needs an alg");
    assert_eq!(err.code(), "invalid_key");
    let key = VerifyingKey::from_jwk(&unbound, Some(Algorithm::PS256)).expect("named");
    assert_eq!(key.alg(), Algorithm::PS256);
    // A JWK's own alg wins and a different request is refused.
    let err = VerifyingKey::from_jwk(&rsa, Some(Algorithm::PS256)).expect_err("differs");
    assert_eq!(err.code(), "invalid_key");
    VerifyingKey::from_jwk(&rsa, Some(Algorithm::RS256)).expect("same alg");
    // Unsupported algorithm names in a JWK.
    for alg in ["ES512", "none", "rs256", "RS256 ", "RSA-OAEP"] {
        let jwk = Jwk {
            alg: Some(alg.into()),
            ..rsa.clone()
        };
        let err = VerifyingKey::from_jwk(&jwk, None).expect_err(alg);
        assert_eq!(err.code(), "invalid_key", "{alg}");
    }
    // Curves decide their algorithm; a mismatching request or curve is refused.
    for alg in [Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA] {
        let jwk = Jwk {
            alg: None,
            ..signer(alg).key().public_jwk().expect("public")
        };
        assert_eq!(
            VerifyingKey::from_jwk(&jwk, None).expect("curve").alg(),
            alg
        );
    }
    let p256 = Jwk {
        alg: None,
        ..signer(Algorithm::ES256).key().public_jwk().expect("public")
    };
    let err = VerifyingKey::from_jwk(&p256, Some(Algorithm::ES384)).expect_err("curve");
    assert_eq!(err.code(), "invalid_key");
    let wrong_crv = Jwk {
        crv: Some("P-384".into()),
        ..p256.clone()
    };
    let err = VerifyingKey::from_jwk(&wrong_crv, None).expect_err("P-384 coordinates?");
    assert_eq!(err.code(), "invalid_key");
    // kty must fit the algorithm.
    for (jwk, alg) in [
        (p256.clone(), Algorithm::RS256),
        (rsa.clone(), Algorithm::HS256),
        (unbound.clone(), Algorithm::EdDSA),
    ] {
        let err = VerifyingKey::from_jwk(&jwk, Some(alg)).expect_err("kty");
        assert_eq!(err.code(), "invalid_key", "{} as {alg}", jwk.kty);
    }
    let unknown = Jwk {
        kty: "AKP".into(),
        ..unbound
    };
    let err = VerifyingKey::from_jwk(&unknown, Some(Algorithm::RS256)).expect_err("kty");
    assert_eq!(err.code(), "invalid_key");
}

#[test]
fn jwk_use_and_key_ops_are_honoured() {
    let private = signer(Algorithm::ES256).key().to_jwk();
    let with = |use_: Option<&str>, ops: Option<&[&str]>| Jwk {
        use_: use_.map(str::to_owned),
        key_ops: ops.map(|o| o.iter().map(|s| s.to_string()).collect()),
        ..private.clone()
    };
    let sign_ok = |j: &Jwk| SigningKey::from_jwk(j, None).map(|_| ());
    let verify_ok = |j: &Jwk| VerifyingKey::from_jwk(j, None).map(|_| ());
    sign_ok(&with(None, None)).expect("no restriction");
    sign_ok(&with(Some("sig"), Some(&["sign", "verify"]))).expect("sig");
    verify_ok(&with(None, Some(&["verify"]))).expect("verify only");
    for (jwk, what) in [
        (with(Some("enc"), None), "use enc"),
        (with(None, Some(&["encrypt"])), "key_ops encrypt"),
        (with(None, Some(&[])), "no key_ops"),
    ] {
        assert_eq!(
            sign_ok(&jwk).expect_err(what).code(),
            "invalid_key",
            "{what}"
        );
        assert_eq!(
            verify_ok(&jwk).expect_err(what).code(),
            "invalid_key",
            "{what}"
        );
    }
    let verify_only = with(None, Some(&["verify"]));
    assert_eq!(
        sign_ok(&verify_only).expect_err("sign").code(),
        "invalid_key"
    );
    let sign_only = with(None, Some(&["sign"]));
    assert_eq!(
        verify_ok(&sign_only).expect_err("verify").code(),
        "invalid_key"
    );
}

#[test]
fn jwk_members_are_checked() {
    let ec = signer(Algorithm::ES256).key().to_jwk();
    let other_ec = SigningKey::generate(Algorithm::ES256)
        .expect("gen")
        .to_jwk();
    let ed = signer(Algorithm::EdDSA).key().to_jwk();
    let other_ed = SigningKey::generate(Algorithm::EdDSA)
        .expect("gen")
        .to_jwk();
    let rsa = signer(Algorithm::RS256).key().to_jwk();
    let other_rsa = signer(Algorithm::RS384).key().to_jwk();
    let x = ec.x.clone().expect("x");
    let cases: Vec<(&str, Jwk)> = vec![
        (
            "EC x too short",
            Jwk {
                x: Some(b64([1u8; 31])),
                ..ec.clone()
            },
        ),
        (
            "EC point not on the curve",
            Jwk {
                x: Some(b64([1u8; 32])),
                d: None,
                ..ec.clone()
            },
        ),
        (
            "EC x padded",
            Jwk {
                x: Some(format!("{x}=")),
                ..ec.clone()
            },
        ),
        (
            "EC x standard alphabet",
            Jwk {
                x: Some(x.replace('-', "+").replace('_', "/") + "+"),
                ..ec.clone()
            },
        ),
        (
            "EC without y",
            Jwk {
                y: None,
                ..ec.clone()
            },
        ),
        (
            "EC d of another key",
            Jwk {
                d: other_ec.d.clone(),
                ..ec.clone()
            },
        ),
        (
            "Ed25519 d of another key",
            Jwk {
                d: other_ed.d.clone(),
                ..ed.clone()
            },
        ),
        (
            "Ed25519 x too long",
            Jwk {
                x: Some(b64([9u8; 33])),
                ..ed.clone()
            },
        ),
        (
            "RSA private without CRT members",
            Jwk {
                p: None,
                q: None,
                dp: None,
                dq: None,
                qi: None,
                ..rsa.clone()
            },
        ),
        (
            "RSA d of another key",
            Jwk {
                d: other_rsa.d.clone(),
                ..rsa.clone()
            },
        ),
        (
            "RSA p of another key",
            Jwk {
                p: other_rsa.p.clone(),
                ..rsa.clone()
            },
        ),
        (
            "RSA without e",
            Jwk {
                e: None,
                ..rsa.clone()
            },
        ),
        (
            "RSA e zero",
            Jwk {
                e: Some(b64([0u8])),
                d: None,
                p: None,
                q: None,
                dp: None,
                dq: None,
                qi: None,
                ..rsa.clone()
            },
        ),
        (
            "oct without k",
            Jwk {
                kty: "oct".into(),
                alg: Some("HS256".into()),
                ..Jwk::default()
            },
        ),
    ];
    for (what, jwk) in cases {
        let err = if jwk.is_private() {
            SigningKey::from_jwk(&jwk, None)
                .map(|_| ())
                .expect_err(what)
        } else {
            VerifyingKey::from_jwk(&jwk, None)
                .map(|_| ())
                .expect_err(what)
        };
        assert_eq!(err.code(), "invalid_key", "{what}");
    }
}

#[test]
fn jwk_json_is_parsed_strictly() {
    let good = signer(Algorithm::EdDSA)
        .key()
        .public_jwk()
        .expect("public")
        .to_json();
    Jwk::from_json(&good).expect("control");
    let x = Jwk::from_json(&good).expect("jwk").x.expect("x");
    for text in [
        format!(r#"{{"kty":"OKP","kty":"OKP","crv":"Ed25519","x":"{x}"}}"#),
        format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","\u0078":"{x}"}}"#),
        format!(
            r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","ext":{}1{}}}"#,
            "[".repeat(40),
            "]".repeat(40)
        ),
        format!(r#"{{"crv":"Ed25519","x":"{x}"}}"#),
        format!(r#"{{"kty":1,"crv":"Ed25519","x":"{x}"}}"#),
        format!(r#"[{{"kty":"OKP","crv":"Ed25519","x":"{x}"}}]"#),
        format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}"}} trailing"#),
        format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","key_ops":"verify"}}"#),
        String::new(),
    ] {
        let err = Jwk::from_json(&text).expect_err(&text);
        assert_eq!(err.code(), "invalid_key", "{text}");
    }
    // Unknown members are ignored (RFC 7517 §4).
    let extra = format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","x5t":"abc","ext":true}}"#);
    VerifyingKey::from_jwk(&Jwk::from_json(&extra).expect("extra members"), None).expect("key");
}

#[test]
fn jwks_parse_round_trip_and_select() {
    let es = signer(Algorithm::ES256).key();
    let ed = signer(Algorithm::EdDSA).key();
    let mut enc = signer(Algorithm::RS256).key().public_jwk().expect("public");
    enc.use_ = Some("enc".into());
    enc.kid = Some("enc".into());
    let set = JwkSet {
        keys: vec![
            es.public_jwk().expect("public"),
            ed.public_jwk().expect("public"),
            enc,
            Jwk {
                kty: "AKP".into(),
                kid: Some("future".into()),
                ..Jwk::default()
            },
        ],
    };
    let text = set.to_json();
    let back = JwkSet::from_json(&text).expect("parses");
    assert_eq!(back, set);
    // Unusable keys are skipped; the usable ones are chosen by kid.
    let verifier = Verifier::from_jwks(&back, None).expect("two usable keys");
    assert_eq!(verifier.keys().len(), 2);
    for s in [signer(Algorithm::ES256), signer(Algorithm::EdDSA)] {
        let token = s.sign(&valid_claims()).expect("sign");
        let v = verifier
            .verify::<Value>(&token, NOW)
            .expect("verifies by kid");
        assert_eq!(v.kid(), s.key().kid());
    }
    // With several keys, a token without kid names no key.
    let no_kid = sign_jws(
        es,
        &Header::default(),
        valid_claims().to_string().as_bytes(),
    )
    .expect("sign");
    let err = verifier
        .verify::<Value>(&no_kid, NOW)
        .expect_err("which key?");
    assert_eq!(err.code(), "unknown_key");
    // Strict JSON for sets too.
    for text in [
        r#"{"keys":[],"keys":[]}"#,
        r#"{"keys":{}}"#,
        r#"{"nokeys":[]}"#,
        r#"[]"#,
    ] {
        let err = JwkSet::from_json(text).expect_err(text);
        assert_eq!(err.code(), "invalid_key", "{text}");
    }
    let empty = JwkSet::from_json(r#"{"keys":[]}"#).expect("empty set");
    let err = Verifier::from_jwks(&empty, None).expect_err("no keys");
    assert_eq!(err.code(), "invalid_key");
}

#[test]
fn thumbprint_ignores_private_and_optional_members() {
    for s in signers() {
        let key = s.key();
        let private = key.to_jwk();
        let tp = private.thumbprint().expect("tp");
        let bare = Jwk {
            alg: None,
            kid: Some("another-kid".into()),
            use_: None,
            ..private.clone()
        };
        assert_eq!(bare.thumbprint().expect("tp"), tp, "{}", key.alg());
        if let Ok(public) = private.to_public() {
            assert_eq!(public.thumbprint().expect("tp"), tp, "{}", key.alg());
        }
        // Another key has another thumbprint.
        let other = SigningKey::generate(key.alg()).expect("gen");
        assert_ne!(other.thumbprint().expect("tp"), tp, "{}", key.alg());
    }
    let err = Jwk {
        kty: "EC".into(),
        ..Jwk::default()
    }
    .thumbprint()
    .expect_err("members missing");
    assert_eq!(err.code(), "invalid_key");
}

#[test]
fn to_public_strips_private_members() {
    for s in signers() {
        let private = s.key().to_jwk();
        match private.to_public() {
            Ok(public) => {
                assert!(!public.is_private());
                assert!(secret_values(&public).is_empty());
                assert!(!public.to_json().contains("\"d\""));
                assert_eq!(public.kid, private.kid);
                let err = SigningKey::from_jwk(&public, None).expect_err("no private part");
                assert_eq!(err.code(), "invalid_key");
            }
            Err(e) => {
                assert_eq!(private.kty, "oct");
                assert_eq!(e.code(), "invalid_key");
            }
        }
    }
}

#[test]
fn raw_secret_needs_an_hmac_algorithm() {
    for alg in asymmetric() {
        let err = SigningKey::from_secret(alg, &[1u8; 64]).expect_err("not HMAC");
        assert_eq!(err.code(), "invalid_key", "{alg}");
        let err = VerifyingKey::from_secret(alg, &[1u8; 64]).expect_err("not HMAC");
        assert_eq!(err.code(), "invalid_key", "{alg}");
    }
    // A long secret is fine, and is what both sides share.
    let key = SigningKey::from_secret(Algorithm::HS512, &[3u8; 200]).expect("long secret");
    let vk = VerifyingKey::from_secret(Algorithm::HS512, &[3u8; 200]).expect("long secret");
    let token = Signer::new(key)
        .sign(&json!({"exp": NOW + 1}))
        .expect("sign");
    Verifier::new(vk)
        .verify::<Value>(&token, NOW)
        .expect("verifies");
}
