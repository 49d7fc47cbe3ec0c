//! PEM and DER key documents: PKCS#8 and PKCS#1/SEC1 private keys, SPKI and PKCS#1 public
//! keys. Only the document structure is handled here; the keys themselves are checked by the
//! crypto seam when they are built.

use der::asn1::ObjectIdentifier;
use zeroize::Zeroizing;

use crate::alg::{Algorithm, Family};
use crate::crypto::{self, trim_leading_zeros, Material, RsaPrivate};
use crate::error::{invalid_key, Error};

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

fn curve_oid(alg: Algorithm) -> Option<ObjectIdentifier> {
    match alg {
        Algorithm::ES256 => Some(P256),
        Algorithm::ES384 => Some(P384),
        _ => None,
    }
}

fn wrong_type() -> Error {
    invalid_key("the key's type does not fit the algorithm")
}

fn bytes(u: der::asn1::UintRef<'_>) -> Vec<u8> {
    trim_leading_zeros(u.as_bytes()).to_vec()
}

fn secret(u: der::asn1::UintRef<'_>) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(bytes(u))
}

/// RSA components from a PKCS#1 `RSAPrivateKey` DER.
pub(crate) fn rsa_from_pkcs1(der: &[u8]) -> Result<Material, Error> {
    let k = pkcs1::RsaPrivateKey::try_from(der)
        .map_err(|_| invalid_key("not a PKCS#1 RSA private key"))?;
    if k.other_prime_infos.is_some() {
        return Err(invalid_key("multi-prime RSA keys are not supported"));
    }
    Ok(Material::Rsa {
        n: bytes(k.modulus),
        e: bytes(k.public_exponent),
        private: Some(Box::new(RsaPrivate {
            d: secret(k.private_exponent),
            p: secret(k.prime1),
            q: secret(k.prime2),
            dp: secret(k.exponent1),
            dq: secret(k.exponent2),
            qi: secret(k.coefficient),
        })),
    })
}

/// RSA components from a PKCS#8 DER holding an RSA key.
pub(crate) fn rsa_from_pkcs8(der: &[u8]) -> Result<Material, Error> {
    let info = pkcs8::PrivateKeyInfo::try_from(der)
        .map_err(|_| invalid_key("not a PKCS#8 private key"))?;
    if info.algorithm.oid != RSA_ENCRYPTION {
        return Err(wrong_type());
    }
    rsa_from_pkcs1(info.private_key)
}

/// Private key components from a PKCS#8 DER for `alg`.
pub(crate) fn private_from_pkcs8(alg: Algorithm, der: &[u8]) -> Result<Material, Error> {
    let info = pkcs8::PrivateKeyInfo::try_from(der)
        .map_err(|_| invalid_key("not a PKCS#8 private key"))?;
    let oid = info.algorithm.oid;
    match alg.family() {
        Family::Rsa if oid == RSA_ENCRYPTION => rsa_from_pkcs1(info.private_key),
        Family::Ec if oid == EC_PUBLIC_KEY => {
            if info.algorithm.parameters_oid().ok() != curve_oid(alg) {
                return Err(invalid_key("the EC key's curve does not fit the algorithm"));
            }
            crypto::ec_from_pkcs8(alg, der)
        }
        Family::Okp if oid == ED25519 => crypto::ed_from_pkcs8(der),
        _ => Err(wrong_type()),
    }
}

/// Public key components from a SubjectPublicKeyInfo DER for `alg`.
pub(crate) fn public_from_spki(alg: Algorithm, der: &[u8]) -> Result<Material, Error> {
    let info = spki::SubjectPublicKeyInfoRef::try_from(der)
        .map_err(|_| invalid_key("not a SubjectPublicKeyInfo public key"))?;
    let key = info
        .subject_public_key
        .as_bytes()
        .ok_or(invalid_key("public key bit string is not octet-aligned"))?;
    let oid = info.algorithm.oid;
    match alg.family() {
        Family::Rsa if oid == RSA_ENCRYPTION => rsa_public_from_pkcs1(key),
        Family::Ec if oid == EC_PUBLIC_KEY => {
            if info.algorithm.parameters_oid().ok() != curve_oid(alg) {
                return Err(invalid_key("the EC key's curve does not fit the algorithm"));
            }
            let len = alg.ec_coordinate_len().unwrap_or(32);
            match key.split_first() {
                Some((0x04, xy)) if xy.len() == 2 * len => Ok(Material::Ec {
                    x: xy[..len].to_vec(),
                    y: xy[len..].to_vec(),
                    d: None,
                }),
                _ => Err(invalid_key("EC public key must be an uncompressed point")),
            }
        }
        Family::Okp if oid == ED25519 => Ok(Material::Okp {
            x: key.to_vec(),
            d: None,
        }),
        _ => Err(wrong_type()),
    }
}

/// RSA public components from a PKCS#1 `RSAPublicKey` DER.
pub(crate) fn rsa_public_from_pkcs1(der: &[u8]) -> Result<Material, Error> {
    let k = pkcs1::RsaPublicKey::try_from(der)
        .map_err(|_| invalid_key("not a PKCS#1 RSA public key"))?;
    Ok(Material::Rsa {
        n: bytes(k.modulus),
        e: bytes(k.public_exponent),
        private: None,
    })
}

/// Key components (private or public) from a PEM document for `alg`.
///
/// Labels understood: `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY` (PKCS#1),
/// `EC PRIVATE KEY` (SEC1), `PUBLIC KEY` (SPKI), `RSA PUBLIC KEY` (PKCS#1).
pub(crate) fn from_pem(alg: Algorithm, pem: &[u8]) -> Result<Material, Error> {
    // Whitespace around the armor (an indented paste, a blank line after END) is not part of
    // the document; `looks_like_pem` already skips it, so parsing must too.
    let (label, der) =
        pem_rfc7468::decode_vec(pem.trim_ascii()).map_err(|_| invalid_key("not a PEM document"))?;
    let der = Zeroizing::new(der);
    match (label, alg.family()) {
        ("PRIVATE KEY", _) => private_from_pkcs8(alg, &der),
        ("RSA PRIVATE KEY", Family::Rsa) => rsa_from_pkcs1(&der),
        ("EC PRIVATE KEY", Family::Ec) => crypto::ec_from_sec1(alg, &der),
        ("PUBLIC KEY", _) => public_from_spki(alg, &der),
        ("RSA PUBLIC KEY", Family::Rsa) => rsa_public_from_pkcs1(&der),
        ("RSA PRIVATE KEY" | "EC PRIVATE KEY" | "RSA PUBLIC KEY", _) => Err(wrong_type()),
        _ => Err(invalid_key("unsupported PEM label")),
    }
}

/// The algorithm a PEM key's own type names, if it names one: an EC key's curve (P-256
/// ES256, P-384 ES384) or Ed25519 (EdDSA). An RSA key fits RS256 to PS512 alike: `None`.
pub(crate) fn implied_algorithm(pem: &[u8]) -> Result<Option<Algorithm>, Error> {
    let (label, der) =
        pem_rfc7468::decode_vec(pem.trim_ascii()).map_err(|_| invalid_key("not a PEM document"))?;
    let der = Zeroizing::new(der);
    let (oid, curve) = match label {
        "RSA PRIVATE KEY" | "RSA PUBLIC KEY" => return Ok(None),
        "EC PRIVATE KEY" => {
            let key = sec1::EcPrivateKey::try_from(&der[..])
                .map_err(|_| invalid_key("not a SEC1 EC private key"))?;
            let curve = key.parameters.and_then(|p| p.named_curve());
            (EC_PUBLIC_KEY, curve)
        }
        "PRIVATE KEY" => {
            let info = pkcs8::PrivateKeyInfo::try_from(&der[..])
                .map_err(|_| invalid_key("not a PKCS#8 private key"))?;
            (info.algorithm.oid, info.algorithm.parameters_oid().ok())
        }
        "PUBLIC KEY" => {
            let info = spki::SubjectPublicKeyInfoRef::try_from(&der[..])
                .map_err(|_| invalid_key("not a SubjectPublicKeyInfo public key"))?;
            (info.algorithm.oid, info.algorithm.parameters_oid().ok())
        }
        _ => return Err(invalid_key("unsupported PEM label")),
    };
    match oid {
        RSA_ENCRYPTION => Ok(None),
        EC_PUBLIC_KEY => match curve {
            Some(P256) => Ok(Some(Algorithm::ES256)),
            Some(P384) => Ok(Some(Algorithm::ES384)),
            _ => Err(invalid_key(
                "unsupported EC curve (P-256 and P-384 are supported)",
            )),
        },
        ED25519 => Ok(Some(Algorithm::EdDSA)),
        _ => Err(invalid_key("unsupported key type")),
    }
}

/// Encodes DER as PEM with `label`.
pub(crate) fn encode(label: &str, der: &[u8]) -> Result<String, Error> {
    pem_rfc7468::encode_string(label, pem_rfc7468::LineEnding::LF, der)
        .map_err(|_| invalid_key("PEM encoding failed"))
}

/// True when `text` looks like a PEM document rather than JSON.
pub(crate) fn looks_like_pem(text: &[u8]) -> bool {
    text.trim_ascii_start().starts_with(b"-----BEGIN ")
}
