//! Shared fixtures of the `jwt` and `alloc` benches: one realistic access token per
//! algorithm, the same keys handed to tessera-jose, jsonwebtoken and bare aws-lc-rs, and
//! the same validation rules on both JWT libraries.
//!
//! Everything here runs once, outside any timed loop, and checks loudly (panics) that the
//! three sides agree before anything is measured.

// Each bench target uses a different subset of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, ParsedPublicKey, RsaKeyPair, RsaPublicKeyComponents,
};
use aws_lc_rs::{hmac, rsa};
use serde::{Deserialize, Serialize};
use tessera_jose::{base64url, Algorithm, Jwk, Signer, SigningKey, Verifier};

pub const ISS: &str = "https://auth.example.com";
pub const AUD: &str = "api";
pub const TYP: &str = "at+jwt";
pub const LEEWAY: u64 = 60;

/// The algorithms of the issue, in table order.
pub const ALGS: [Algorithm; 4] = [
    Algorithm::HS256,
    Algorithm::RS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

/// An RFC 9068-style access token's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    pub jti: String,
    pub sid: String,
    pub scope: String,
}

/// Wall-clock Unix seconds, as a server would read them for each request: the bench's one
/// clock. jsonwebtoken reads the system clock inside `decode`, so tessera must be handed
/// the same real time for the comparison to be fair and for both to accept the token.
#[inline]
#[allow(clippy::disallowed_methods)]
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Claims issued now, valid for an hour (jsonwebtoken reads the real clock, so the token
/// must be valid in real time on both sides for the whole run).
pub fn claims() -> AccessClaims {
    let now = now();
    AccessClaims {
        iss: ISS.to_owned(),
        sub: "usr_01HZX3K9QW5T7YV2B8N4M6P0RC".to_owned(),
        aud: AUD.to_owned(),
        iat: now,
        nbf: now,
        exp: now + 3600,
        jti: "01HZX3KB2D5F8G1J4M7P0R3T6V".to_owned(),
        sid: "01HZX3K7Y9A2C4E6G8J0L2N4Q6".to_owned(),
        scope: "openid profile api:read api:write".to_owned(),
    }
}

/// The bare signing primitive of aws-lc-rs, key parsed once.
/// HMAC keys are boxed, as tessera-jose holds them (clippy's large_enum_variant).
pub enum BareSign {
    Hmac(Box<hmac::Key>),
    Rsa(RsaKeyPair, SystemRandom),
    Ecdsa(EcdsaKeyPair, SystemRandom),
    Ed25519(Ed25519KeyPair),
}

impl BareSign {
    /// Signs `msg`; returns the signature length so the work cannot be optimised away.
    #[inline]
    pub fn sign(&self, msg: &[u8]) -> usize {
        match self {
            BareSign::Hmac(k) => hmac::sign(k, msg).as_ref().len(),
            BareSign::Rsa(k, rng) => {
                let mut sig = [0u8; 512];
                let sig = &mut sig[..k.public_modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, rng, msg, sig)
                    .expect("bare RSA sign");
                sig.len()
            }
            BareSign::Ecdsa(k, rng) => k.sign(rng, msg).expect("bare ECDSA sign").as_ref().len(),
            BareSign::Ed25519(k) => k.sign(msg).as_ref().len(),
        }
    }
}

/// The bare verification primitive of aws-lc-rs, key parsed once.
pub enum BareVerify {
    Hmac(Box<hmac::Key>),
    Public(ParsedPublicKey),
}

impl BareVerify {
    #[inline]
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match self {
            BareVerify::Hmac(k) => hmac::verify(k, msg, sig).is_ok(),
            BareVerify::Public(k) => k.verify_sig(msg, sig).is_ok(),
        }
    }
}

/// Everything needed to sign and verify one algorithm's token three ways.
pub struct Fixture {
    pub alg: Algorithm,
    pub claims: AccessClaims,
    /// The token signed by tessera-jose; verified by all three sides.
    pub token: String,
    /// `header.payload` of `token`, and its decoded signature (for the bare primitives).
    pub signing_input: Vec<u8>,
    pub signature: Vec<u8>,
    pub signer: Signer,
    pub verifier: Verifier,
    pub jwt_header: jsonwebtoken::Header,
    pub jwt_encoding: jsonwebtoken::EncodingKey,
    pub jwt_decoding: jsonwebtoken::DecodingKey,
    pub jwt_validation: jsonwebtoken::Validation,
    pub bare_sign: BareSign,
    pub bare_verify: BareVerify,
}

fn jwt_alg(alg: Algorithm) -> jsonwebtoken::Algorithm {
    match alg {
        Algorithm::HS256 => jsonwebtoken::Algorithm::HS256,
        Algorithm::RS256 => jsonwebtoken::Algorithm::RS256,
        Algorithm::ES256 => jsonwebtoken::Algorithm::ES256,
        Algorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        other => panic!("no fixture for {other}"),
    }
}

fn b64(v: &Option<String>, name: &str) -> Vec<u8> {
    let s = v.as_deref().unwrap_or_else(|| panic!("JWK has no {name}"));
    base64url::decode(s.as_bytes()).expect("JWK member is base64url")
}

fn b64_secret(v: &Option<tessera_jose::SecretString>, name: &str) -> Vec<u8> {
    let s = v
        .as_ref()
        .unwrap_or_else(|| panic!("JWK has no {name}"))
        .expose_secret();
    base64url::decode(s.as_bytes()).expect("JWK member is base64url")
}

fn str_of(v: &Option<String>, name: &str) -> String {
    v.clone().unwrap_or_else(|| panic!("JWK has no {name}"))
}

/// PKCS#8 DER of a tessera signing key, through its PEM export.
fn pkcs8_der(key: &SigningKey) -> Vec<u8> {
    let pem = key.to_pem().expect("PEM export");
    let (label, der) = pem_rfc7468::decode_vec(pem.as_bytes()).expect("PEM decodes");
    assert_eq!(label, "PRIVATE KEY");
    der
}

fn uncompressed_point(x: &[u8], y: &[u8]) -> Vec<u8> {
    let mut p = vec![0x04];
    p.extend_from_slice(x);
    p.extend_from_slice(y);
    p
}

/// jsonwebtoken's full validation, as close as it gets to the tessera verifier below.
fn jwt_validation(alg: Algorithm) -> jsonwebtoken::Validation {
    let mut v = jsonwebtoken::Validation::new(jwt_alg(alg));
    v.set_issuer(&[ISS]);
    v.set_audience(&[AUD]);
    v.leeway = LEEWAY;
    v.validate_exp = true;
    v.validate_nbf = true;
    v.validate_aud = true;
    v.set_required_spec_claims(&["exp", "iss", "aud", "nbf"]);
    v
}

/// jsonwebtoken has no `typ` rule; the bench applies the same one tessera does, by hand.
#[inline]
pub fn jwt_typ_ok(h: &jsonwebtoken::Header) -> bool {
    h.typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case(TYP))
}

/// jsonwebtoken's complete verify of `token`: signature, claims, and the `typ` rule.
#[inline]
pub fn jwt_verify(f: &Fixture, token: &str) -> Option<AccessClaims> {
    let td =
        jsonwebtoken::decode::<AccessClaims>(token, &f.jwt_decoding, &f.jwt_validation).ok()?;
    jwt_typ_ok(&td.header).then_some(td.claims)
}

/// tessera-jose's complete verify of `token` against the current clock.
#[inline]
pub fn tessera_verify(f: &Fixture, token: &str) -> Option<AccessClaims> {
    f.verifier
        .verify::<AccessClaims>(token, now())
        .ok()
        .map(|v| v.into_claims())
}

impl Fixture {
    pub fn new(alg: Algorithm) -> Fixture {
        let key = SigningKey::generate(alg).expect("key generation");
        let kid = key.kid().expect("generated keys have a kid").to_owned();
        let jwk: Jwk = key.to_jwk();
        let jalg = jwt_alg(alg);

        // Keys for jsonwebtoken and the bare primitives, all from our own exports.
        let (jwt_encoding, jwt_decoding, bare_sign, bare_verify) = match alg {
            Algorithm::HS256 => {
                let k = b64_secret(&jwk.k, "k");
                assert_eq!(k.len(), 32);
                (
                    jsonwebtoken::EncodingKey::from_secret(&k),
                    jsonwebtoken::DecodingKey::from_secret(&k),
                    BareSign::Hmac(Box::new(hmac::Key::new(hmac::HMAC_SHA256, &k))),
                    BareVerify::Hmac(Box::new(hmac::Key::new(hmac::HMAC_SHA256, &k))),
                )
            }
            Algorithm::RS256 => {
                // jsonwebtoken (aws-lc) signs with a PKCS#1 RSAPrivateKey DER: the inner
                // key of our PKCS#8 export.
                let p8 = pkcs8_der(&key);
                let info = pkcs8::PrivateKeyInfo::try_from(p8.as_slice()).expect("PKCS#8");
                let (n, e) = (b64(&jwk.n, "n"), b64(&jwk.e, "e"));
                let (d, p, q) = (
                    b64_secret(&jwk.d, "d"),
                    b64_secret(&jwk.p, "p"),
                    b64_secret(&jwk.q, "q"),
                );
                let (dp, dq, qi) = (
                    b64_secret(&jwk.dp, "dp"),
                    b64_secret(&jwk.dq, "dq"),
                    b64_secret(&jwk.qi, "qi"),
                );
                let comps = rsa::KeyPairComponents {
                    public_key: RsaPublicKeyComponents {
                        n: n.as_slice(),
                        e: e.as_slice(),
                    },
                    d: d.as_slice(),
                    p: p.as_slice(),
                    q: q.as_slice(),
                    dP: dp.as_slice(),
                    dQ: dq.as_slice(),
                    qInv: qi.as_slice(),
                };
                let kp = RsaKeyPair::from_components(&comps).expect("RSA key pair");
                let public = RsaPublicKeyComponents {
                    n: n.as_slice(),
                    e: e.as_slice(),
                }
                .to_parsed_public_key(&signature::RSA_PKCS1_2048_8192_SHA256)
                .expect("RSA public key");
                (
                    jsonwebtoken::EncodingKey::from_rsa_der(info.private_key),
                    jsonwebtoken::DecodingKey::from_rsa_components(
                        &str_of(&jwk.n, "n"),
                        &str_of(&jwk.e, "e"),
                    )
                    .expect("jsonwebtoken RSA components"),
                    BareSign::Rsa(kp, SystemRandom::new()),
                    BareVerify::Public(public),
                )
            }
            Algorithm::ES256 => {
                let (x, y, d) = (b64(&jwk.x, "x"), b64(&jwk.y, "y"), b64_secret(&jwk.d, "d"));
                let point = uncompressed_point(&x, &y);
                let kp = EcdsaKeyPair::from_private_key_and_public_key(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &d,
                    &point,
                )
                .expect("EC key pair");
                let public = ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &point)
                    .expect("EC public key");
                (
                    jsonwebtoken::EncodingKey::from_ec_der(&pkcs8_der(&key)),
                    jsonwebtoken::DecodingKey::from_ec_components(
                        &str_of(&jwk.x, "x"),
                        &str_of(&jwk.y, "y"),
                    )
                    .expect("jsonwebtoken EC components"),
                    BareSign::Ecdsa(kp, SystemRandom::new()),
                    BareVerify::Public(public),
                )
            }
            Algorithm::EdDSA => {
                let (x, d) = (b64(&jwk.x, "x"), b64_secret(&jwk.d, "d"));
                let kp = Ed25519KeyPair::from_seed_and_public_key(&d, &x).expect("Ed25519 pair");
                let public =
                    ParsedPublicKey::new(&signature::ED25519, &x).expect("Ed25519 public key");
                (
                    jsonwebtoken::EncodingKey::from_ed_der(&pkcs8_der(&key)),
                    jsonwebtoken::DecodingKey::from_ed_components(&str_of(&jwk.x, "x"))
                        .expect("jsonwebtoken Ed25519 components"),
                    BareSign::Ed25519(kp),
                    BareVerify::Public(public),
                )
            }
            other => panic!("no fixture for {other}"),
        };

        let verifier = Verifier::new(key.verifying_key().expect("verifying key"))
            .with_issuer(ISS)
            .with_audience(AUD)
            .with_typ(TYP)
            .with_leeway(LEEWAY)
            .require("nbf");
        let signer = Signer::new(key).with_typ(TYP);
        let jwt_header = jsonwebtoken::Header {
            typ: Some(TYP.to_owned()),
            kid: Some(kid.clone()),
            ..jsonwebtoken::Header::new(jalg)
        };

        let claims = claims();
        let token = signer.sign(&claims).expect("tessera signs");
        let (signing_input, sig_b64) = token.rsplit_once('.').expect("three segments");
        let signing_input = signing_input.as_bytes().to_vec();
        let signature = base64url::decode(sig_b64.as_bytes()).expect("signature is base64url");

        let f = Fixture {
            alg,
            claims,
            token,
            signing_input,
            signature,
            signer,
            verifier,
            jwt_header,
            jwt_encoding,
            jwt_decoding,
            jwt_validation: jwt_validation(alg),
            bare_sign,
            bare_verify,
        };
        f.check(&kid);
        f
    }

    /// Panics unless every side accepts the other's token with equal claims, and every
    /// side refuses a tampered one. A broken comparison must not produce numbers.
    fn check(&self, kid: &str) {
        let alg = self.alg;
        // The header is exactly {"alg","typ":"at+jwt","kid"}.
        let header_b64 = self.token.split('.').next().expect("header segment");
        let header = base64url::decode(header_b64.as_bytes()).expect("header is base64url");
        let header: serde_json::Value = serde_json::from_slice(&header).expect("header JSON");
        assert_eq!(
            header,
            serde_json::json!({"alg": alg.as_str(), "typ": TYP, "kid": kid}),
            "{alg}: header"
        );

        // Our token, verified by all three.
        assert_eq!(
            tessera_verify(self, &self.token).as_ref(),
            Some(&self.claims),
            "{alg}: tessera verifies its own token"
        );
        assert_eq!(
            jwt_verify(self, &self.token).as_ref(),
            Some(&self.claims),
            "{alg}: jsonwebtoken verifies tessera's token"
        );
        assert!(
            self.bare_verify
                .verify(&self.signing_input, &self.signature),
            "{alg}: bare primitive verifies tessera's signature"
        );
        assert!(self.bare_sign.sign(&self.signing_input) > 0);

        // jsonwebtoken's token, verified by both libraries.
        let theirs = jsonwebtoken::encode(&self.jwt_header, &self.claims, &self.jwt_encoding)
            .expect("jsonwebtoken signs");
        assert_eq!(
            tessera_verify(self, &theirs).as_ref(),
            Some(&self.claims),
            "{alg}: tessera verifies jsonwebtoken's token"
        );
        assert_eq!(
            jwt_verify(self, &theirs).as_ref(),
            Some(&self.claims),
            "{alg}: jsonwebtoken verifies its own token"
        );

        // Both refuse a token whose payload was changed, and one for another audience.
        let mut tampered = self.claims.clone();
        tampered.scope.push_str(" admin");
        let forged = {
            let good = jsonwebtoken::encode(&self.jwt_header, &tampered, &self.jwt_encoding)
                .expect("jsonwebtoken signs");
            let payload = good.split('.').nth(1).expect("payload");
            let mut parts = self.token.split('.');
            let (h, _, s) = (parts.next(), parts.next(), parts.next());
            format!("{}.{payload}.{}", h.unwrap_or(""), s.unwrap_or(""))
        };
        assert!(
            tessera_verify(self, &forged).is_none(),
            "{alg}: tessera refuses forgery"
        );
        assert!(
            jwt_verify(self, &forged).is_none(),
            "{alg}: jsonwebtoken refuses forgery"
        );
        // Both refuse each claim rule broken on its own (validation really is on).
        let t = now();
        type Breaker = fn(&mut AccessClaims, u64);
        let broken: [(&str, Breaker); 4] = [
            ("aud", |c, _| c.aud = "other-api".to_owned()),
            ("iss", |c, _| c.iss = "https://evil.example.com".to_owned()),
            ("exp", |c, t| c.exp = t - 3600),
            ("nbf", |c, t| c.nbf = t + 3600),
        ];
        for (rule, breaker) in broken {
            let mut c = self.claims.clone();
            breaker(&mut c, t);
            let wrong = self.signer.sign(&c).expect("tessera signs");
            assert!(
                tessera_verify(self, &wrong).is_none(),
                "{alg}: tessera checks {rule}"
            );
            assert!(
                jwt_verify(self, &wrong).is_none(),
                "{alg}: jsonwebtoken checks {rule}"
            );
        }
        // ... and the typ rule.
        let untyped = Signer::new(
            SigningKey::from_jwk(&self.signer.key().to_jwk(), Some(alg)).expect("key re-import"),
        )
        .sign(&self.claims)
        .expect("tessera signs");
        assert!(
            tessera_verify(self, &untyped).is_none(),
            "{alg}: tessera checks typ"
        );
        let jwt_untyped = jsonwebtoken::Header {
            typ: Some("JWT".to_owned()),
            ..self.jwt_header.clone()
        };
        let untyped = jsonwebtoken::encode(&jwt_untyped, &self.claims, &self.jwt_encoding)
            .expect("jsonwebtoken signs");
        assert!(
            jwt_verify(self, &untyped).is_none(),
            "{alg}: jsonwebtoken typ rule"
        );
    }
}

/// A scratch file for a Valgrind tool's output: `tessera-{bench}-{pid}-{alg}.{ext}`.
pub fn valgrind_out(bench: &str, alg: Algorithm, ext: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "tessera-{bench}-{}-{}.{ext}",
        std::process::id(),
        alg.as_str()
    ))
}

/// Runs this bench's own executable `exe` under Valgrind with `tool_args` (the tool and
/// where it writes), as the child `child_flag ALG`; Valgrind's own log is discarded.
pub fn run_child_under_valgrind(
    exe: &Path,
    tool_args: &[String],
    child_flag: &str,
    alg: Algorithm,
) -> Result<(), String> {
    let status = Command::new("valgrind")
        .args(tool_args)
        .arg("--log-file=/dev/null")
        .arg(exe)
        .arg(child_flag)
        .arg(alg.as_str())
        .status()
        .map_err(|e| format!("cannot run valgrind: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the {alg} child failed under valgrind: {status}"))
    }
}
