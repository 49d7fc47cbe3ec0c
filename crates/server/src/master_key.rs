//! The master key (docs/configuration.md, "Plain variables"): `TESSERA_MASTER_KEY` (32 bytes, base64url), else the key
//! file, created with mode 0600 on first start and read after. Replicas must share it:
//! signing keys in the database are sealed under it.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::path::Path;

use tessera_tokens::MasterKey;

use crate::config::KeysConfig;
use crate::startup::StartError;

/// Loads the master key from `env_value` (the value of `TESSERA_MASTER_KEY`) when set, else
/// from `keys.master_key_file`, creating the file (mode 0600) with a new random key when it
/// does not exist. An existing file that group or others may read is refused, unless
/// `keys.allow_readable_master_key_file` says otherwise: whoever reads it can forge tokens.
pub fn load_master_key(
    env_value: Option<&str>,
    keys: &KeysConfig,
) -> Result<MasterKey, StartError> {
    let file = keys.master_key_file.as_path();
    let allow_readable = keys.allow_readable_master_key_file;
    if let Some(v) = env_value {
        return MasterKey::from_base64url(v).map_err(|_| {
            StartError::MasterKey(
                "TESSERA_MASTER_KEY must be 32 random bytes, base64url-encoded".into(),
            )
        });
    }
    match std::fs::read_to_string(file) {
        Ok(text) => return read_existing(file, &text, allow_readable),
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => {
            return Err(StartError::MasterKey(format!(
                "cannot read {}: {e}",
                file.display()
            )))
        }
    }
    let key = MasterKey::generate().map_err(|e| StartError::MasterKey(e.to_string()))?;
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = match options.open(file) {
        Ok(f) => f,
        // Another process created it first: use theirs.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(file).map_err(|e| {
                StartError::MasterKey(format!("cannot read {}: {e}", file.display()))
            })?;
            return read_existing(file, &text, allow_readable);
        }
        Err(e) => {
            return Err(StartError::MasterKey(format!(
                "cannot create {}: {e}",
                file.display()
            )))
        }
    };
    let mut text = key.to_base64url();
    text.push('\n');
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| StartError::MasterKey(format!("cannot write {}: {e}", file.display())))?;
    tracing::warn!(
        file = %file.display(),
        "created a new master key file; back it up: without it the stored signing keys cannot be opened"
    );
    Ok(key)
}

fn read_existing(file: &Path, text: &str, allow_readable: bool) -> Result<MasterKey, StartError> {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(file) {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            if !allow_readable {
                return Err(StartError::MasterKey(format!(
                    "{} is readable by group or others: chmod 600 it (or set \
                     keys.allow_readable_master_key_file = true)",
                    file.display()
                )));
            }
            tracing::warn!(file = %file.display(), "the master key file is readable by group or others; chmod 600 it");
        }
    }
    MasterKey::from_base64url(text).map_err(|_| {
        StartError::MasterKey(format!(
            "{} does not hold a master key (32 random bytes, base64url-encoded)",
            file.display()
        ))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn keys(path: &Path, allow_readable: bool) -> KeysConfig {
        let mut keys = crate::Config::defaults().keys;
        keys.master_key_file = path.to_owned();
        keys.allow_readable_master_key_file = allow_readable;
        keys
    }

    #[test]
    fn creates_with_mode_0600_then_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tessera.master.key");
        let k = keys(&path, false);
        let a = load_master_key(None, &k).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let b = load_master_key(None, &k).unwrap();
        assert_eq!(a.to_base64url(), b.to_base64url());
        let env = MasterKey::generate().unwrap().to_base64url();
        let c = load_master_key(Some(&env), &k).unwrap();
        assert_eq!(c.to_base64url(), env, "the environment wins over the file");
        assert!(load_master_key(Some("short"), &k).is_err());
        std::fs::write(&path, "garbage").unwrap();
        assert!(load_master_key(None, &k).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn a_master_key_file_others_can_read_stops_start_up_unless_allowed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tessera.master.key");
        let key = load_master_key(None, &keys(&path, false)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_master_key(None, &keys(&path, false)).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
        let allowed = load_master_key(None, &keys(&path, true)).unwrap();
        assert_eq!(allowed.to_base64url(), key.to_base64url());
    }
}
