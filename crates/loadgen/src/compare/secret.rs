//! The HMAC secret Tessera signs with, for the baseline to verify the same tokens.
//!
//! Tessera never publishes an HMAC key (it has no public part), and no command exports
//! one: the key lives in the server's database, sealed under the master key. The load
//! generator chose that master key (`TESSERA_MASTER_KEY`), so it opens the key as another
//! replica would: it loads the key ring from the database with the public
//! `tessera-tokens` API and opens the current key's sealed JWK with the ring's seal key.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use tessera_jose::primitives::open;
use tessera_jose::{base64url, Algorithm, Jwk};
use tessera_tokens::{
    key_phases, Clock as _, KeyPhase, KeyRing, KeyRingConfig, MasterKey, SystemClock,
};

/// The raw secret of the key the server signs with now, which must be an `alg` key. The
/// server must have started once (it creates its key then): this never stores a key.
pub async fn current_hmac_secret(
    database_url: &str,
    master: &MasterKey,
    alg: Algorithm,
) -> Result<Vec<u8>> {
    let store = tessera_store::connect_any(database_url)
        .await
        .map_err(|e| anyhow!("opening the server's database: {e}"))?;
    let now = SystemClock.now();
    // Phases only depend on stored times; a retired key's retention is irrelevant here.
    let retain = i64::MAX / 4;
    let stored = store
        .signing_keys()
        .await
        .map_err(|e| anyhow!("reading the signing keys: {e}"))?;
    if !key_phases(&stored, now, retain).contains(&KeyPhase::Current) {
        // KeyRing::load would create one: that is the server's job, not ours.
        bail!("the server has no current signing key yet");
    }
    let config = KeyRingConfig {
        algorithm: alg,
        issuer: String::new(),
        audience: String::new(),
        typ: String::new(),
        leeway: 0,
        prepublish: 0,
        retain,
        rotation_period: None,
    };
    let ring = KeyRing::load(store.as_ref(), master, config, now)
        .await
        .map_err(|e| anyhow!("loading the key ring (is the master key the server's?): {e}"))?;
    let (record, _) = ring
        .keys()
        .into_iter()
        .find(|(_, phase)| *phase == KeyPhase::Current)
        .ok_or_else(|| anyhow!("no current signing key"))?;
    if record.alg != alg.as_str() {
        bail!("the server signs with {}, not {}", record.alg, alg.as_str());
    }
    let jwk = open(
        ring.seal_key_for_tests().expose_secret(),
        record.kid.as_bytes(),
        &record.private_sealed,
    )
    .map_err(|e| anyhow!("opening key {}: {e}", record.kid))?;
    let jwk = Jwk::from_json(std::str::from_utf8(&jwk).context("sealed JWK is not UTF-8")?)
        .map_err(|e| anyhow!("sealed JWK: {e}"))?;
    let k = jwk
        .k
        .ok_or_else(|| anyhow!("key {} is not an HMAC (oct) key", record.kid))?;
    base64url::decode(k.expose_secret().as_bytes()).map_err(|e| anyhow!("JWK k: {e}"))
}

/// Writes `secret` to a new file only its owner can read.
pub fn write_secret(path: &Path, secret: &[u8]) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(secret)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_tokens::AccessClaims;

    /// The secret read back verifies, with jsonwebtoken as the baseline does, what the
    /// server's ring signs.
    #[tokio::test]
    async fn reads_the_current_hs256_secret() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("tessera.db").display());
        let master = MasterKey::generate()?;
        let store = tessera_store::connect_any(&url).await?;
        let now = SystemClock.now();
        // What `tessera serve` does on its first start: it creates the key.
        let config = KeyRingConfig {
            algorithm: Algorithm::HS256,
            issuer: "i".into(),
            audience: "a".into(),
            typ: "at+jwt".into(),
            leeway: 60,
            prepublish: 60,
            retain: 3600,
            rotation_period: None,
        };
        let server_ring = KeyRing::load(store.as_ref(), &master, config, now).await?;
        drop(store);
        let token = server_ring.sign(&AccessClaims {
            iss: "i".into(),
            sub: "usr_1".into(),
            aud: "a".into(),
            exp: now + 60,
            iat: now,
            nbf: now,
            jti: "j".into(),
            sid: "ses_1".into(),
            scope: None,
            client_id: None,
        })?;

        let secret = current_hmac_secret(&url, &master, Algorithm::HS256).await?;
        assert_eq!(secret.len(), 32);
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        v.set_audience(&["a"]);
        let key = jsonwebtoken::DecodingKey::from_secret(&secret);
        let claims = jsonwebtoken::decode::<serde_json::Value>(&token, &key, &v)?.claims;
        assert_eq!(claims["sid"], "ses_1");
        let wrong = jsonwebtoken::DecodingKey::from_secret(&[0u8; 32]);
        assert!(jsonwebtoken::decode::<serde_json::Value>(&token, &wrong, &v).is_err());

        let other = MasterKey::generate()?;
        assert!(current_hmac_secret(&url, &other, Algorithm::HS256)
            .await
            .is_err());
        let err = current_hmac_secret(&url, &master, Algorithm::HS384).await;
        assert!(format!("{:#}", err.expect_err("wrong alg")).contains("signs with HS256"));
        Ok(())
    }

    #[tokio::test]
    async fn never_creates_a_key() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("tessera.db").display());
        let err = current_hmac_secret(&url, &MasterKey::generate()?, Algorithm::HS256)
            .await
            .expect_err("no key yet");
        assert!(format!("{err:#}").contains("no current signing key yet"));
        let store = tessera_store::connect_any(&url).await?;
        assert!(store.signing_keys().await?.is_empty());
        Ok(())
    }

    #[test]
    fn secret_file_is_private_and_new() -> Result<()> {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("s");
        write_secret(&path, b"0123")?;
        assert_eq!(std::fs::read(&path)?, b"0123");
        assert_eq!(
            std::fs::metadata(&path)?.permissions().mode() & 0o777,
            0o600
        );
        assert!(write_secret(&path, b"x").is_err());
        Ok(())
    }
}
