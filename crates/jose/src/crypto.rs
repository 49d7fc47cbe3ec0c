//! The crypto seam: the only module that imports aws-lc-rs.
//!
//! Everything here works on raw key components (big-endian integers, curve points, seeds)
//! and DER documents; the JWK and PEM layers above turn those into and out of text.

use aws_lc_rs::encoding::{AsBigEndian, AsDer};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, ParsedPublicKey, RsaKeyPair,
    RsaPublicKeyComponents,
};
use aws_lc_rs::{digest, hmac, rsa};
use zeroize::Zeroizing;

use crate::alg::{Algorithm, Family};
use crate::error::{invalid_key, Error, ErrorKind};

/// Smallest RSA modulus we accept, in bytes (2048 bits; RFC 7518 §3.3).
pub(crate) const RSA_MIN_BYTES: usize = 256;
/// Largest signature we ever decode (RSA-8192).
pub(crate) const MAX_SIGNATURE_LEN: usize = 1024;

/// Key components, as a JWK carries them (big-endian, unpadded integers for RSA).
#[derive(Clone)]
pub(crate) enum Material {
    Oct {
        k: Zeroizing<Vec<u8>>,
    },
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
        private: Option<Box<RsaPrivate>>,
    },
    Ec {
        x: Vec<u8>,
        y: Vec<u8>,
        d: Option<Zeroizing<Vec<u8>>>,
    },
    Okp {
        x: Vec<u8>,
        d: Option<Zeroizing<Vec<u8>>>,
    },
}

/// RSA private components (RFC 7518 §6.3.2).
#[derive(Clone)]
pub(crate) struct RsaPrivate {
    pub d: Zeroizing<Vec<u8>>,
    pub p: Zeroizing<Vec<u8>>,
    pub q: Zeroizing<Vec<u8>>,
    pub dp: Zeroizing<Vec<u8>>,
    pub dq: Zeroizing<Vec<u8>>,
    pub qi: Zeroizing<Vec<u8>>,
}

impl Material {
    pub(crate) fn family(&self) -> Family {
        match self {
            Material::Oct { .. } => Family::Hmac,
            Material::Rsa { .. } => Family::Rsa,
            Material::Ec { .. } => Family::Ec,
            Material::Okp { .. } => Family::Okp,
        }
    }

    pub(crate) fn has_private(&self) -> bool {
        match self {
            Material::Oct { .. } => true,
            Material::Rsa { private, .. } => private.is_some(),
            Material::Ec { d, .. } | Material::Okp { d, .. } => d.is_some(),
        }
    }

    /// The public half (for `oct`, the same secret: it has no public part).
    pub(crate) fn public(&self) -> Material {
        match self {
            Material::Oct { k } => Material::Oct { k: k.clone() },
            Material::Rsa { n, e, .. } => Material::Rsa {
                n: n.clone(),
                e: e.clone(),
                private: None,
            },
            Material::Ec { x, y, .. } => Material::Ec {
                x: x.clone(),
                y: y.clone(),
                d: None,
            },
            Material::Okp { x, .. } => Material::Okp {
                x: x.clone(),
                d: None,
            },
        }
    }
}

/// A key ready to sign: parsed once, used many times.
pub(crate) enum SignKey {
    Hmac(Box<hmac::Key>),
    Rsa(RsaKeyPair, &'static dyn signature::RsaEncoding),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A key ready to verify: parsed once, used many times.
pub(crate) enum VerifyKey {
    Hmac(Box<hmac::Key>),
    Public(ParsedPublicKey),
}

fn hmac_alg(alg: Algorithm) -> hmac::Algorithm {
    match alg {
        Algorithm::HS384 => hmac::HMAC_SHA384,
        Algorithm::HS512 => hmac::HMAC_SHA512,
        _ => hmac::HMAC_SHA256,
    }
}

fn rsa_encoding(alg: Algorithm) -> &'static dyn signature::RsaEncoding {
    match alg {
        Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_SHA512,
        _ => &signature::RSA_PKCS1_SHA256,
    }
}

fn rsa_params(alg: Algorithm) -> &'static signature::RsaParameters {
    match alg {
        Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        _ => &signature::RSA_PKCS1_2048_8192_SHA256,
    }
}

fn ecdsa_signing(alg: Algorithm) -> &'static signature::EcdsaSigningAlgorithm {
    match alg {
        Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        _ => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
    }
}

fn ecdsa_verification(alg: Algorithm) -> &'static signature::EcdsaVerificationAlgorithm {
    match alg {
        Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
        _ => &signature::ECDSA_P256_SHA256_FIXED,
    }
}

fn uncompressed_point(x: &[u8], y: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(1 + x.len() + y.len());
    p.push(0x04);
    p.extend_from_slice(x);
    p.extend_from_slice(y);
    p
}

/// Strips leading zero bytes (JWK integers are minimal big-endian, RFC 7518 §2).
pub(crate) fn trim_leading_zeros(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[start..]
}

/// Checks the shape of components against the algorithm (lengths, curve, RSA size).
pub(crate) fn check_material(alg: Algorithm, m: &Material) -> Result<(), Error> {
    if alg.family() != m.family() {
        return Err(invalid_key("key type does not fit the algorithm"));
    }
    match m {
        Material::Oct { k } => {
            let min = alg.min_secret_len().unwrap_or(32);
            if k.len() < min {
                return Err(invalid_key(
                    "HMAC secret shorter than the hash output (RFC 7518 §3.2)",
                ));
            }
        }
        Material::Rsa { n, e, .. } => {
            if trim_leading_zeros(n).len() < RSA_MIN_BYTES {
                return Err(invalid_key("RSA modulus shorter than 2048 bits"));
            }
            if trim_leading_zeros(e).is_empty() {
                return Err(invalid_key("RSA exponent is zero"));
            }
        }
        Material::Ec { x, y, d } => {
            let len = alg.ec_coordinate_len().unwrap_or(32);
            if x.len() != len || y.len() != len || d.as_ref().is_some_and(|d| d.len() != len) {
                return Err(invalid_key(
                    "EC coordinate has the wrong length for the curve",
                ));
            }
        }
        Material::Okp { x, d } => {
            if x.len() != 32 || d.as_ref().is_some_and(|d| d.len() != 32) {
                return Err(invalid_key("Ed25519 key has the wrong length"));
            }
        }
    }
    Ok(())
}

impl SignKey {
    /// Builds a signer from private components (already checked by `check_material`).
    pub(crate) fn new(alg: Algorithm, m: &Material) -> Result<SignKey, Error> {
        let rejected = |_| invalid_key("the crypto library refused the private key");
        Ok(match m {
            Material::Oct { k } => SignKey::Hmac(Box::new(hmac::Key::new(hmac_alg(alg), k))),
            Material::Rsa {
                n,
                e,
                private: Some(p),
            } => {
                let c = rsa::KeyPairComponents {
                    public_key: RsaPublicKeyComponents {
                        n: n.as_slice(),
                        e: e.as_slice(),
                    },
                    d: p.d.as_slice(),
                    p: p.p.as_slice(),
                    q: p.q.as_slice(),
                    dP: p.dp.as_slice(),
                    dQ: p.dq.as_slice(),
                    qInv: p.qi.as_slice(),
                };
                let kp = RsaKeyPair::from_components(&c).map_err(rejected)?;
                SignKey::Rsa(kp, rsa_encoding(alg))
            }
            Material::Ec { x, y, d: Some(d) } => SignKey::Ecdsa(
                EcdsaKeyPair::from_private_key_and_public_key(
                    ecdsa_signing(alg),
                    d,
                    &uncompressed_point(x, y),
                )
                .map_err(rejected)?,
            ),
            Material::Okp { x, d: Some(d) } => {
                SignKey::Ed25519(Ed25519KeyPair::from_seed_and_public_key(d, x).map_err(rejected)?)
            }
            _ => return Err(invalid_key("a private key is needed to sign")),
        })
    }

    /// Signs `msg` and hands the signature bytes to `f` (no allocation for HMAC/ECDSA/EdDSA).
    pub(crate) fn sign<R>(&self, msg: &[u8], f: impl FnOnce(&[u8]) -> R) -> Result<R, Error> {
        let failed = |_| Error::new(ErrorKind::Crypto, "signing failed");
        Ok(match self {
            SignKey::Hmac(k) => f(hmac::sign(k, msg).as_ref()),
            SignKey::Ecdsa(k) => f(k.sign(&SystemRandom::new(), msg).map_err(failed)?.as_ref()),
            SignKey::Ed25519(k) => f(k.sign(msg).as_ref()),
            SignKey::Rsa(k, enc) => {
                let mut buf = [0u8; MAX_SIGNATURE_LEN];
                let sig = buf
                    .get_mut(..k.public_modulus_len())
                    .ok_or(invalid_key("RSA key larger than 8192 bits"))?;
                k.sign(*enc, &SystemRandom::new(), msg, sig)
                    .map_err(failed)?;
                f(sig)
            }
        })
    }

    /// PKCS#8 v1 DER of the private key (not for HMAC secrets).
    pub(crate) fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        let failed = |_| Error::new(ErrorKind::Crypto, "PKCS#8 export failed");
        Ok(Zeroizing::new(match self {
            SignKey::Hmac(_) => return Err(invalid_key("an HMAC secret has no PKCS#8 form")),
            SignKey::Rsa(k, _) => k.as_der().map_err(failed)?.as_ref().to_vec(),
            SignKey::Ecdsa(k) => k.to_pkcs8v1().map_err(failed)?.as_ref().to_vec(),
            SignKey::Ed25519(k) => k.to_pkcs8v1().map_err(failed)?.as_ref().to_vec(),
        }))
    }
}

impl VerifyKey {
    /// Builds a verifier from public components (or the HMAC secret).
    pub(crate) fn new(alg: Algorithm, m: &Material) -> Result<VerifyKey, Error> {
        let rejected = |_| invalid_key("the crypto library refused the public key");
        Ok(match m {
            Material::Oct { k } => VerifyKey::Hmac(Box::new(hmac::Key::new(hmac_alg(alg), k))),
            Material::Rsa { n, e, .. } => VerifyKey::Public(
                RsaPublicKeyComponents {
                    n: n.as_slice(),
                    e: e.as_slice(),
                }
                .to_parsed_public_key(rsa_params(alg))
                .map_err(rejected)?,
            ),
            Material::Ec { x, y, .. } => VerifyKey::Public(
                ParsedPublicKey::new(ecdsa_verification(alg), uncompressed_point(x, y))
                    .map_err(rejected)?,
            ),
            Material::Okp { x, .. } => VerifyKey::Public(
                ParsedPublicKey::new(&signature::ED25519, x.as_slice()).map_err(rejected)?,
            ),
        })
    }

    /// Verifies `sig` over `msg`. ECDSA signatures must be fixed-length `r||s` with neither
    /// half zero (RFC 7518 §3.4; CVE-2022-21449 "psychic signatures").
    pub(crate) fn verify(&self, alg: Algorithm, msg: &[u8], sig: &[u8]) -> Result<(), Error> {
        const BAD: Error = Error::new(ErrorKind::InvalidSignature, "signature does not verify");
        if let Some(half) = alg.ec_coordinate_len() {
            if sig.len() != 2 * half {
                return Err(Error::new(
                    ErrorKind::InvalidSignature,
                    "ECDSA signature is not fixed-length r||s",
                ));
            }
            let (r, s) = sig.split_at(half);
            if r.iter().all(|&b| b == 0) || s.iter().all(|&b| b == 0) {
                return Err(Error::new(
                    ErrorKind::InvalidSignature,
                    "ECDSA signature with r or s zero",
                ));
            }
        }
        match self {
            // hmac::verify compares in constant time.
            VerifyKey::Hmac(k) => hmac::verify(k, msg, sig).map_err(|_| BAD),
            VerifyKey::Public(k) => k.verify_sig(msg, sig).map_err(|_| BAD),
        }
    }

    /// SubjectPublicKeyInfo DER (not for HMAC secrets).
    pub(crate) fn to_spki(&self) -> Result<Vec<u8>, Error> {
        match self {
            VerifyKey::Hmac(_) => Err(invalid_key("an HMAC secret has no public key")),
            VerifyKey::Public(k) => k
                .as_der()
                .map(|d| d.as_ref().to_vec())
                .map_err(|_| Error::new(ErrorKind::Crypto, "SPKI export failed")),
        }
    }
}

/// Generates new key components for `alg` (RSA: 2048 bits; HMAC: a secret of the hash size).
pub(crate) fn generate(alg: Algorithm) -> Result<Material, Error> {
    let failed = |_| Error::new(ErrorKind::Crypto, "key generation failed");
    match alg.family() {
        Family::Hmac => {
            let mut k = Zeroizing::new(vec![0u8; alg.min_secret_len().unwrap_or(32)]);
            SystemRandom::new().fill(&mut k).map_err(failed)?;
            Ok(Material::Oct { k })
        }
        Family::Rsa => {
            let kp = RsaKeyPair::generate(rsa::KeySize::Rsa2048).map_err(failed)?;
            let der = Zeroizing::new(kp.as_der().map_err(failed)?.as_ref().to_vec());
            crate::pem::rsa_from_pkcs8(&der)
        }
        Family::Ec => {
            let kp = EcdsaKeyPair::generate(ecdsa_signing(alg)).map_err(failed)?;
            ec_material(alg, &kp)
        }
        Family::Okp => {
            let kp = Ed25519KeyPair::generate().map_err(failed)?;
            ed_material(&kp)
        }
    }
}

fn ec_material(alg: Algorithm, kp: &EcdsaKeyPair) -> Result<Material, Error> {
    let len = alg.ec_coordinate_len().unwrap_or(32);
    let point = kp.public_key().as_ref();
    if point.len() != 1 + 2 * len || point[0] != 0x04 {
        return Err(invalid_key("unexpected EC public key encoding"));
    }
    let d: aws_lc_rs::encoding::EcPrivateKeyBin<'_> = kp
        .private_key()
        .as_be_bytes()
        .map_err(|_| Error::new(ErrorKind::Crypto, "EC private key export failed"))?;
    Ok(Material::Ec {
        x: point[1..1 + len].to_vec(),
        y: point[1 + len..].to_vec(),
        d: Some(Zeroizing::new(d.as_ref().to_vec())),
    })
}

fn ed_material(kp: &Ed25519KeyPair) -> Result<Material, Error> {
    let failed = |_| Error::new(ErrorKind::Crypto, "Ed25519 seed export failed");
    let seed = kp.seed().map_err(failed)?;
    let seed: aws_lc_rs::encoding::Curve25519SeedBin<'_> = seed.as_be_bytes().map_err(failed)?;
    Ok(Material::Okp {
        x: kp.public_key().as_ref().to_vec(),
        d: Some(Zeroizing::new(seed.as_ref().to_vec())),
    })
}

/// Private components from a PKCS#8 document holding an EC key for `alg`.
pub(crate) fn ec_from_pkcs8(alg: Algorithm, der: &[u8]) -> Result<Material, Error> {
    let kp = EcdsaKeyPair::from_pkcs8(ecdsa_signing(alg), der)
        .map_err(|_| invalid_key("not a valid EC private key for the algorithm's curve"))?;
    ec_material(alg, &kp)
}

/// Private components from a SEC1 (RFC 5915) `EC PRIVATE KEY` document.
pub(crate) fn ec_from_sec1(alg: Algorithm, der: &[u8]) -> Result<Material, Error> {
    let kp = EcdsaKeyPair::from_private_key_der(ecdsa_signing(alg), der)
        .map_err(|_| invalid_key("not a valid EC private key for the algorithm's curve"))?;
    ec_material(alg, &kp)
}

/// Private components from a PKCS#8 document holding an Ed25519 key.
pub(crate) fn ed_from_pkcs8(der: &[u8]) -> Result<Material, Error> {
    let kp = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
        .map_err(|_| invalid_key("not a valid Ed25519 private key"))?;
    ed_material(&kp)
}

/// SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Fills `buf` from the system's secure random source.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), Error> {
    SystemRandom::new()
        .fill(buf)
        .map_err(|_| Error::new(ErrorKind::Crypto, "random source failed"))
}
