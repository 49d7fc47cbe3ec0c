//! Signing and verifying keys: each bound to exactly one algorithm, parsed once.

use std::fmt;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::alg::{Algorithm, Family};
use crate::crypto::{self, check_material, Material, SignKey, VerifyKey};
use crate::error::{invalid_key, Error};
use crate::jwk::{Jwk, Op};
use crate::pem;

/// A private key (or HMAC secret) bound to one algorithm, ready to sign.
///
/// `Debug` shows only the algorithm and key id.
pub struct SigningKey {
    alg: Algorithm,
    kid: Option<Arc<str>>,
    material: Material,
    pub(crate) signer: SignKey,
}

/// A public key (or HMAC secret) bound to one algorithm, ready to verify.
///
/// `Debug` shows only the algorithm and key id.
#[derive(Clone)]
pub struct VerifyingKey {
    alg: Algorithm,
    kid: Option<Arc<str>>,
    material: Arc<Material>,
    pub(crate) verifier: Arc<VerifyKey>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    fn build(alg: Algorithm, kid: Option<Arc<str>>, material: Material) -> Result<Self, Error> {
        if !material.has_private() {
            return Err(invalid_key("a private key is needed to sign"));
        }
        check_material(alg, &material)?;
        let signer = SignKey::new(alg, &material)?;
        Ok(SigningKey {
            alg,
            kid,
            material,
            signer,
        })
    }

    /// Generates a new key for `alg` (RSA 2048 bits; HMAC a random secret of the hash
    /// size). Its `kid` is its RFC 7638 thumbprint.
    pub fn generate(alg: Algorithm) -> Result<Self, Error> {
        let key = SigningKey::build(alg, None, crypto::generate(alg)?)?;
        let kid = key.thumbprint()?;
        Ok(key.with_kid(kid))
    }

    /// Imports a private JWK. `alg` is needed when the JWK has no `alg` and its curve does
    /// not decide it; a different `alg` from the JWK's is refused.
    pub fn from_jwk(jwk: &Jwk, alg: Option<Algorithm>) -> Result<Self, Error> {
        jwk.check_use(Op::Sign)?;
        let alg = jwk.algorithm(alg)?;
        SigningKey::build(alg, jwk.kid.as_deref().map(Arc::from), jwk.material(alg)?)
    }

    /// Imports a private key from PEM (`PRIVATE KEY`, `RSA PRIVATE KEY`, `EC PRIVATE KEY`).
    /// PEM carries no algorithm, so it must be given.
    pub fn from_pem(pem: &[u8], alg: Algorithm) -> Result<Self, Error> {
        SigningKey::build(alg, None, pem::from_pem(alg, pem)?)
    }

    /// Imports a private key from a PKCS#8 DER document.
    pub fn from_pkcs8_der(der: &[u8], alg: Algorithm) -> Result<Self, Error> {
        SigningKey::build(alg, None, pem::private_from_pkcs8(alg, der)?)
    }

    /// Imports a raw HMAC secret; refused when shorter than the hash output (32 bytes for
    /// HS256, 48 for HS384, 64 for HS512) or when `alg` is not an HMAC algorithm.
    pub fn from_secret(alg: Algorithm, secret: &[u8]) -> Result<Self, Error> {
        if alg.family() != Family::Hmac {
            return Err(invalid_key(
                "a raw secret is only for HS256, HS384 or HS512",
            ));
        }
        let k = Zeroizing::new(secret.to_vec());
        SigningKey::build(alg, None, Material::Oct { k })
    }

    /// Sets the key id.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(Arc::from(kid.into()));
        self
    }

    /// The algorithm this key signs with.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The key id, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The private JWK (with `alg`, `kid`, `use: "sig"`).
    pub fn to_jwk(&self) -> Jwk {
        Jwk::from_material(self.alg, self.kid(), &self.material)
    }

    /// The public JWK; an error for HMAC keys, which have no public part.
    pub fn public_jwk(&self) -> Result<Jwk, Error> {
        if self.alg.family() == Family::Hmac {
            return Err(invalid_key("a symmetric key has no public part"));
        }
        Ok(Jwk::from_material(
            self.alg,
            self.kid(),
            &self.material.public(),
        ))
    }

    /// The key that verifies this key's signatures (for HMAC, the same secret).
    pub fn verifying_key(&self) -> Result<VerifyingKey, Error> {
        VerifyingKey::build(self.alg, self.kid.clone(), self.material.public())
    }

    /// The private key as a PKCS#8 PEM document (not for HMAC secrets).
    pub fn to_pem(&self) -> Result<Zeroizing<String>, Error> {
        let der = self.signer.to_pkcs8()?;
        pem::encode("PRIVATE KEY", &der).map(Zeroizing::new)
    }

    /// The RFC 7638 thumbprint of the key.
    pub fn thumbprint(&self) -> Result<String, Error> {
        self.to_jwk().thumbprint()
    }
}

impl VerifyingKey {
    fn build(alg: Algorithm, kid: Option<Arc<str>>, material: Material) -> Result<Self, Error> {
        check_material(alg, &material)?;
        let verifier = VerifyKey::new(alg, &material)?;
        Ok(VerifyingKey {
            alg,
            kid,
            material: Arc::new(material),
            verifier: Arc::new(verifier),
        })
    }

    /// Imports a JWK (public, or private of which only the public part is kept). `alg` as
    /// in [`SigningKey::from_jwk`].
    pub fn from_jwk(jwk: &Jwk, alg: Option<Algorithm>) -> Result<Self, Error> {
        jwk.check_use(Op::Verify)?;
        let alg = jwk.algorithm(alg)?;
        let m = jwk.material(alg)?.public();
        VerifyingKey::build(alg, jwk.kid.as_deref().map(Arc::from), m)
    }

    /// Imports a public key from PEM (`PUBLIC KEY`, `RSA PUBLIC KEY`), or the public part of
    /// a private PEM key. PEM carries no algorithm, so it must be given.
    pub fn from_pem(pem: &[u8], alg: Algorithm) -> Result<Self, Error> {
        VerifyingKey::build(alg, None, pem::from_pem(alg, pem)?.public())
    }

    /// Imports a SubjectPublicKeyInfo DER document.
    pub fn from_spki_der(der: &[u8], alg: Algorithm) -> Result<Self, Error> {
        VerifyingKey::build(alg, None, pem::public_from_spki(alg, der)?)
    }

    /// Imports a raw HMAC secret, with the same length rules as [`SigningKey::from_secret`].
    pub fn from_secret(alg: Algorithm, secret: &[u8]) -> Result<Self, Error> {
        if alg.family() != Family::Hmac {
            return Err(invalid_key(
                "a raw secret is only for HS256, HS384 or HS512",
            ));
        }
        let k = Zeroizing::new(secret.to_vec());
        VerifyingKey::build(alg, None, Material::Oct { k })
    }

    /// Sets the key id.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(Arc::from(kid.into()));
        self
    }

    /// The algorithm this key verifies; tokens with any other `alg` are refused.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The key id, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub(crate) fn kid_arc(&self) -> Option<Arc<str>> {
        self.kid.clone()
    }

    /// The JWK of this key (for HMAC keys it holds the secret: publish it nowhere).
    pub fn to_jwk(&self) -> Jwk {
        Jwk::from_material(self.alg, self.kid(), &self.material)
    }

    /// The public key as an SPKI PEM document (not for HMAC secrets).
    pub fn to_pem(&self) -> Result<String, Error> {
        pem::encode("PUBLIC KEY", &self.verifier.to_spki()?)
    }

    /// The RFC 7638 thumbprint of the key.
    pub fn thumbprint(&self) -> Result<String, Error> {
        self.to_jwk().thumbprint()
    }
}

/// A public key read from PEM, before it is bound to an algorithm.
///
/// PEM carries no algorithm, but an EC or Ed25519 key names the only one it fits by its
/// curve (P-256 ES256, P-384 ES384, Ed25519 EdDSA). An RSA key fits RS256 to PS512 alike, so
/// it verifies nothing until an algorithm is named with [`bind`](Self::bind); its JWK (then
/// without `alg`), its SPKI PEM and its thumbprint need none.
///
/// ```
/// use tessera_jose::{Algorithm, PublicKey, SigningKey};
///
/// let pem = SigningKey::generate(Algorithm::ES384)?.to_pem()?;
/// let key = PublicKey::from_pem(pem.as_bytes())?;
/// assert_eq!(key.algorithm(), Some(Algorithm::ES384));
/// assert_eq!(key.to_jwk().alg.as_deref(), Some("ES384"));
/// assert_eq!(key.bind(Algorithm::ES384)?.alg(), Algorithm::ES384);
/// assert!(key.bind(Algorithm::ES256).is_err());
///
/// let rsa = SigningKey::generate(Algorithm::PS256)?.to_pem()?;
/// let rsa = PublicKey::from_pem(rsa.as_bytes())?;
/// assert_eq!(rsa.algorithm(), None);
/// assert_eq!(rsa.to_jwk().alg, None);
/// assert_eq!(rsa.bind(Algorithm::RS512)?.alg(), Algorithm::RS512);
/// # Ok::<(), tessera_jose::Error>(())
/// ```
#[derive(Clone)]
pub struct PublicKey {
    /// The algorithm the curve names; `None` for RSA.
    alg: Option<Algorithm>,
    material: Material,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("family", &self.family())
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl PublicKey {
    /// Reads the public part of a PEM key: `PUBLIC KEY` (SPKI), `RSA PUBLIC KEY`, or a private
    /// key (`PRIVATE KEY`, `RSA PRIVATE KEY`, `EC PRIVATE KEY`) of which only the public part
    /// is kept. Refuses curves other than P-256, P-384 and Ed25519, and RSA under 2048 bits.
    pub fn from_pem(pem: &[u8]) -> Result<Self, Error> {
        let alg = pem::implied_algorithm(pem)?;
        let material = pem::from_pem(reading_alg(alg), pem)?.public();
        check_material(reading_alg(alg), &material)?;
        Ok(PublicKey { alg, material })
    }

    /// The algorithm the key's curve names, or `None` for an RSA key.
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.alg
    }

    /// The key's family (RSA, EC or OKP).
    pub fn family(&self) -> Family {
        self.material.family()
    }

    /// The key bound to `alg`, ready to verify. Refuses an algorithm of another family, or
    /// another curve than the key's.
    pub fn bind(&self, alg: Algorithm) -> Result<VerifyingKey, Error> {
        if self.alg.is_some_and(|own| own != alg) {
            return Err(invalid_key("the key's curve names another algorithm"));
        }
        VerifyingKey::build(alg, None, self.material.clone())
    }

    /// The public JWK, with `use: "sig"` and, when the curve names one, `alg`.
    pub fn to_jwk(&self) -> Jwk {
        let mut jwk = Jwk::from_material(reading_alg(self.alg), None, &self.material);
        jwk.alg = self.alg.map(|a| a.as_str().to_owned());
        jwk
    }

    /// The key as an SPKI PEM document (`PUBLIC KEY`).
    pub fn to_pem(&self) -> Result<String, Error> {
        let spki = VerifyKey::new(reading_alg(self.alg), &self.material)?.to_spki()?;
        pem::encode("PUBLIC KEY", &spki)
    }

    /// The RFC 7638 thumbprint of the key (which does not depend on an algorithm).
    pub fn thumbprint(&self) -> Result<String, Error> {
        self.to_jwk().thumbprint()
    }
}

/// The algorithm a key of [`PublicKey`] is read and encoded with: its own, or for RSA any
/// RSA one, since RS256 to PS512 read, encode and check an RSA key alike.
fn reading_alg(alg: Option<Algorithm>) -> Algorithm {
    alg.unwrap_or(Algorithm::RS256)
}

/// Reads a private key from a JWK (JSON) or PEM document, telling them apart by content.
pub fn signing_key_from_text(text: &[u8], alg: Option<Algorithm>) -> Result<SigningKey, Error> {
    if pem::looks_like_pem(text) {
        let alg = alg.ok_or(invalid_key("a PEM key carries no algorithm: name it"))?;
        SigningKey::from_pem(text, alg)
    } else {
        let text = std::str::from_utf8(text).map_err(|_| invalid_key("key file is not UTF-8"))?;
        SigningKey::from_jwk(&Jwk::from_json(text)?, alg)
    }
}

/// Reads a verifying key from a JWK (JSON) or PEM document (public or private).
pub fn verifying_key_from_text(text: &[u8], alg: Option<Algorithm>) -> Result<VerifyingKey, Error> {
    if pem::looks_like_pem(text) {
        let alg = alg.ok_or(invalid_key("a PEM key carries no algorithm: name it"))?;
        VerifyingKey::from_pem(text, alg)
    } else {
        let text = std::str::from_utf8(text).map_err(|_| invalid_key("key file is not UTF-8"))?;
        VerifyingKey::from_jwk(&Jwk::from_json(text)?, alg)
    }
}
