//! JSON Web Keys (RFC 7517), JWK Sets, and RFC 7638 thumbprints.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::alg::{Algorithm, Family};
use crate::b64;
use crate::crypto::{Material, RsaPrivate};
use crate::error::{invalid_key, Error};
use crate::json;
use crate::secret::SecretString;

/// A JWK as it appears on the wire. Private members are [`SecretString`]s, so a `Jwk` never
/// prints them and wipes them on drop. Unknown members are ignored (RFC 7517 §4).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `oct`, `RSA`, `EC` or `OKP`.
    pub kty: String,
    /// Intended use; only `sig` is accepted when present.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// Permitted operations; when present must allow the operation asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_ops: Option<Vec<String>>,
    /// The algorithm the key is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Curve (`P-256`, `P-384`, `Ed25519`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x coordinate / OKP public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// Private: EC/OKP private key, RSA private exponent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<SecretString>,
    /// Private: RSA first prime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<SecretString>,
    /// Private: RSA second prime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<SecretString>,
    /// Private: RSA first CRT exponent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dp: Option<SecretString>,
    /// Private: RSA second CRT exponent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dq: Option<SecretString>,
    /// Private: RSA CRT coefficient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qi: Option<SecretString>,
    /// Private: the symmetric secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<SecretString>,
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwk")
            .field("kty", &self.kty)
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("crv", &self.crv)
            .field("private", &self.is_private())
            .finish_non_exhaustive()
    }
}

/// What a key will be used for, checked against `use` and `key_ops`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Sign,
    Verify,
}

fn field(v: &Option<String>, name: &'static str) -> Result<Vec<u8>, Error> {
    let s = v.as_deref().ok_or(invalid_key(name))?;
    b64::decode(s.as_bytes()).map_err(|_| invalid_key("JWK member is not base64url"))
}

fn secret_field(v: &Option<SecretString>, name: &'static str) -> Result<Zeroizing<Vec<u8>>, Error> {
    let s = v.as_ref().ok_or(invalid_key(name))?;
    b64::decode(s.expose_secret().as_bytes())
        .map(Zeroizing::new)
        .map_err(|_| invalid_key("JWK member is not base64url"))
}

fn secret_b64(b: &[u8]) -> Option<SecretString> {
    Some(SecretString::new(b64::encode(b)))
}

impl Jwk {
    /// Parses one JWK from JSON with the strict rules of docs/security.md (no duplicate members, no
    /// deep nesting).
    pub fn from_json(text: &str) -> Result<Jwk, Error> {
        json::scan_object(text.as_bytes(), |_, _| Ok(()))
            .map_err(|_| invalid_key("JWK is not a valid JSON object"))?;
        serde_json::from_str(text).map_err(|_| invalid_key("JWK has a missing or mistyped member"))
    }

    /// JSON text of this JWK (private members included when present).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// True when the JWK carries private material.
    pub fn is_private(&self) -> bool {
        self.d.is_some() || self.k.is_some()
    }

    /// The algorithm this JWK is bound to: its `alg`, else `requested`, else the only one its
    /// curve allows. A `requested` algorithm that differs from the JWK's `alg` is refused.
    pub fn algorithm(&self, requested: Option<Algorithm>) -> Result<Algorithm, Error> {
        let own = match self.alg.as_deref() {
            Some(a) => {
                Some(Algorithm::from_str(a).map_err(|_| invalid_key("JWK alg is not supported"))?)
            }
            None => None,
        };
        match (own, requested) {
            (Some(a), Some(r)) if a != r => {
                Err(invalid_key("JWK alg differs from the algorithm asked for"))
            }
            (Some(a), _) | (None, Some(a)) => Ok(a),
            (None, None) => match (self.kty.as_str(), self.crv.as_deref()) {
                ("EC", Some("P-256")) => Ok(Algorithm::ES256),
                ("EC", Some("P-384")) => Ok(Algorithm::ES384),
                ("OKP", Some("Ed25519")) => Ok(Algorithm::EdDSA),
                _ => Err(invalid_key("the key carries no alg: name the algorithm")),
            },
        }
    }

    pub(crate) fn check_use(&self, op: Op) -> Result<(), Error> {
        if let Some(u) = &self.use_ {
            if u != "sig" {
                return Err(invalid_key("JWK use is not sig"));
            }
        }
        if let Some(ops) = &self.key_ops {
            let want = match op {
                Op::Sign => "sign",
                Op::Verify => "verify",
            };
            if !ops.iter().any(|o| o == want) {
                return Err(invalid_key("JWK key_ops does not allow this operation"));
            }
        }
        Ok(())
    }

    /// Key components, with the curve checked against `alg`.
    pub(crate) fn material(&self, alg: Algorithm) -> Result<Material, Error> {
        let family = match self.kty.as_str() {
            "oct" => Family::Hmac,
            "RSA" => Family::Rsa,
            "EC" => Family::Ec,
            "OKP" => Family::Okp,
            _ => return Err(invalid_key("unsupported JWK kty")),
        };
        if family != alg.family() {
            return Err(invalid_key("JWK kty does not fit the algorithm"));
        }
        if let Some(curve) = alg.curve() {
            if self.crv.as_deref() != Some(curve) {
                return Err(invalid_key("JWK crv does not fit the algorithm"));
            }
        }
        Ok(match family {
            Family::Hmac => Material::Oct {
                k: secret_field(&self.k, "oct JWK without k")?,
            },
            Family::Rsa => {
                let private = if self.d.is_some() {
                    Some(Box::new(RsaPrivate {
                        d: secret_field(&self.d, "RSA JWK without d")?,
                        p: secret_field(
                            &self.p,
                            "RSA private JWK without p (CRT members are required)",
                        )?,
                        q: secret_field(&self.q, "RSA private JWK without q")?,
                        dp: secret_field(&self.dp, "RSA private JWK without dp")?,
                        dq: secret_field(&self.dq, "RSA private JWK without dq")?,
                        qi: secret_field(&self.qi, "RSA private JWK without qi")?,
                    }))
                } else {
                    None
                };
                Material::Rsa {
                    n: field(&self.n, "RSA JWK without n")?,
                    e: field(&self.e, "RSA JWK without e")?,
                    private,
                }
            }
            Family::Ec => Material::Ec {
                x: field(&self.x, "EC JWK without x")?,
                y: field(&self.y, "EC JWK without y")?,
                d: self
                    .d
                    .as_ref()
                    .map(|_| secret_field(&self.d, "EC JWK d"))
                    .transpose()?,
            },
            Family::Okp => Material::Okp {
                x: field(&self.x, "OKP JWK without x")?,
                d: self
                    .d
                    .as_ref()
                    .map(|_| secret_field(&self.d, "OKP JWK d"))
                    .transpose()?,
            },
        })
    }

    /// A JWK for `m`, bound to `alg`, with `use: "sig"`.
    pub(crate) fn from_material(alg: Algorithm, kid: Option<&str>, m: &Material) -> Jwk {
        let mut j = Jwk {
            use_: Some("sig".into()),
            alg: Some(alg.as_str().into()),
            kid: kid.map(str::to_owned),
            crv: alg.curve().map(str::to_owned),
            ..Jwk::default()
        };
        match m {
            Material::Oct { k } => {
                j.kty = "oct".into();
                j.k = secret_b64(k);
            }
            Material::Rsa { n, e, private } => {
                j.kty = "RSA".into();
                j.n = Some(b64::encode(n));
                j.e = Some(b64::encode(e));
                if let Some(p) = private {
                    j.d = secret_b64(&p.d);
                    j.p = secret_b64(&p.p);
                    j.q = secret_b64(&p.q);
                    j.dp = secret_b64(&p.dp);
                    j.dq = secret_b64(&p.dq);
                    j.qi = secret_b64(&p.qi);
                }
            }
            Material::Ec { x, y, d } => {
                j.kty = "EC".into();
                j.x = Some(b64::encode(x));
                j.y = Some(b64::encode(y));
                j.d = d.as_ref().and_then(|d| secret_b64(d));
            }
            Material::Okp { x, d } => {
                j.kty = "OKP".into();
                j.x = Some(b64::encode(x));
                j.d = d.as_ref().and_then(|d| secret_b64(d));
            }
        }
        j
    }

    /// This JWK without its private members. Symmetric keys have no public part.
    pub fn to_public(&self) -> Result<Jwk, Error> {
        if self.kty == "oct" {
            return Err(invalid_key("a symmetric key has no public part"));
        }
        Ok(Jwk {
            d: None,
            p: None,
            q: None,
            dp: None,
            dq: None,
            qi: None,
            k: None,
            key_ops: None,
            ..self.clone()
        })
    }

    /// The RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order,
    /// base64url-encoded.
    pub fn thumbprint(&self) -> Result<String, Error> {
        fn q(v: Option<&str>) -> Result<String, Error> {
            let v = v.ok_or(invalid_key("JWK lacks a member the thumbprint needs"))?;
            serde_json::to_string(v).map_err(|_| invalid_key("JWK member is not a string"))
        }
        let canonical = match self.kty.as_str() {
            "EC" => format!(
                r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
                q(self.crv.as_deref())?,
                q(self.x.as_deref())?,
                q(self.y.as_deref())?
            ),
            "RSA" => format!(
                r#"{{"e":{},"kty":"RSA","n":{}}}"#,
                q(self.e.as_deref())?,
                q(self.n.as_deref())?
            ),
            "OKP" => format!(
                r#"{{"crv":{},"kty":"OKP","x":{}}}"#,
                q(self.crv.as_deref())?,
                q(self.x.as_deref())?
            ),
            "oct" => {
                let k = self.k.as_ref().map(SecretString::expose_secret);
                let text = Zeroizing::new(format!(r#"{{"k":{},"kty":"oct"}}"#, q(k)?));
                return Ok(b64::encode(&crate::crypto::sha256(text.as_bytes())));
            }
            _ => return Err(invalid_key("unsupported JWK kty")),
        };
        Ok(b64::encode(&crate::crypto::sha256(canonical.as_bytes())))
    }
}

/// A JWK Set (RFC 7517 §5).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}

impl JwkSet {
    /// Parses a JWKS from JSON with the strict rules of docs/security.md.
    pub fn from_json(text: &str) -> Result<JwkSet, Error> {
        json::scan_object(text.as_bytes(), |_, _| Ok(()))
            .map_err(|_| invalid_key("JWKS is not a valid JSON object"))?;
        serde_json::from_str(text).map_err(|_| invalid_key("JWKS has a missing or mistyped member"))
    }

    /// JSON text of the set.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
