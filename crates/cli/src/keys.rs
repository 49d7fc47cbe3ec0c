//! `tessera keys generate|public|thumbprint` (`list` and `rotate`, which work on the
//! server's database, are in `server_cmd`), and the key loading every command shares.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use tessera_jose::{
    signing_key_from_text, verifying_key_from_text, Algorithm, Family, Jwk, JwkSet, SigningKey,
    VerifyingKey,
};
use zeroize::Zeroizing;

use crate::error::CliError;
use crate::input::{self, Source};

/// Key management.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    Generate(GenerateArgs),
    Public(PublicArgs),
    Thumbprint(ThumbprintArgs),
    /// List the server's signing keys (configured database) and their phases, as JSON.
    List(crate::server_cmd::ConfigArg),
    /// Rotate the server's signing key now: a new key of `tokens.algorithm` is published at
    /// once and starts signing after the pre-publication delay (`keys.jwks_max_age`, at
    /// least 10 s); running replicas pick it up within 5 s. Needs the master key.
    Rotate(crate::server_cmd::ConfigArg),
}

/// Generate a new private key, as a JWK with `alg`, `kid` and `use: "sig"`.
///
/// The private key goes to standard output unless --out names a file, which is then created
/// with mode 0600 (an existing file is never overwritten). For HS256/384/512 the key is a
/// random secret of the hash's size, as an `oct` JWK.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Algorithm the key is bound to: HS256 HS384 HS512 RS256 RS384 RS512 PS256 PS384
    /// PS512 ES256 ES384 EdDSA.
    #[arg(long, value_parser = parse_alg)]
    alg: Algorithm,
    /// Key id [default: the key's RFC 7638 thumbprint].
    #[arg(long, conflicts_with = "pem")]
    kid: Option<String>,
    /// Write the key to this new file (mode 0600) instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Write PKCS#8 PEM instead of a JWK (not for HS*). PEM carries no algorithm and no
    /// kid: pass --alg (and --kid) to the commands that use it.
    #[arg(long)]
    pem: bool,
}

/// Print the public key of a private JWK or PEM key (a symmetric key has none: exit 2).
#[derive(Debug, Args)]
pub struct PublicArgs {
    /// Private key file (JWK or PEM), or - for standard input.
    #[arg(value_name = "FILE")]
    file: Source,
    /// Print a JWK Set, {"keys":[...]}, ready to publish.
    #[arg(long, conflicts_with = "pem")]
    jwks: bool,
    /// Print an SPKI PEM ("PUBLIC KEY") instead of a JWK.
    #[arg(long)]
    pem: bool,
    /// Algorithm of the key; required for PEM, which carries none.
    #[arg(long, value_parser = parse_alg)]
    alg: Option<Algorithm>,
    /// Key id to put in the JWK [default: the key's own kid; PEM keys have none].
    #[arg(long, conflicts_with = "pem")]
    kid: Option<String>,
}

/// Print the RFC 7638 thumbprint (SHA-256, base64url) of a key.
#[derive(Debug, Args)]
pub struct ThumbprintArgs {
    /// Key file (JWK or PEM, private or public), or - for standard input.
    #[arg(value_name = "FILE")]
    file: Source,
    /// Algorithm of the key; required for PEM, which carries none.
    #[arg(long, value_parser = parse_alg)]
    alg: Option<Algorithm>,
}

/// Runs one `keys` subcommand, writing its result to `out`.
pub fn run(cmd: KeysCommand, out: &mut dyn Write) -> Result<(), CliError> {
    match cmd {
        KeysCommand::Generate(args) => generate(args, out),
        KeysCommand::Public(args) => public(args, out),
        KeysCommand::Thumbprint(args) => thumbprint(args, out),
        KeysCommand::List(config) => crate::server_cmd::keys_list(config, out),
        KeysCommand::Rotate(config) => crate::server_cmd::keys_rotate(config, out),
    }
}

fn generate(args: GenerateArgs, out: &mut dyn Write) -> Result<(), CliError> {
    if args.pem && args.alg.family() == Family::Hmac {
        return Err(CliError::request(
            "--pem is not for HS* keys: an HMAC secret has no PEM form",
        ));
    }
    let mut key = SigningKey::generate(args.alg)?;
    if let Some(kid) = args.kid {
        key = key.with_kid(kid);
    }
    let mut text = if args.pem {
        key.to_pem()?
    } else {
        Zeroizing::new(key.to_jwk().to_json())
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    match &args.out {
        None => out.write_all(text.as_bytes()).map_err(CliError::Output),
        Some(path) => {
            write_private_file(path, text.as_bytes())?;
            // Not on stdout: nothing a program needs, and it keeps stdout free of key talk.
            match (args.pem, key.kid()) {
                (true, _) => eprintln!(
                    "wrote a new {} private key (PKCS#8 PEM) to {}; pass --alg {} when using it",
                    key.alg(),
                    path.display(),
                    key.alg()
                ),
                (false, kid) => eprintln!(
                    "wrote a new {} private key to {} (kid {})",
                    key.alg(),
                    path.display(),
                    kid.unwrap_or("none")
                ),
            }
            Ok(())
        }
    }
}

/// Creates `path` readable by its owner only and writes `bytes` to it. An existing file is
/// left alone: overwriting a private key by mistake cannot be undone.
fn write_private_file(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let failed = |e: io::Error| {
        let why = if e.kind() == io::ErrorKind::AlreadyExists {
            "it already exists (remove it first to replace the key)".to_owned()
        } else {
            e.to_string()
        };
        CliError::request(format!("cannot create {}: {why}", path.display()))
    };
    let mut file = options.open(path).map_err(failed)?;
    file.write_all(bytes).map_err(failed)?;
    file.sync_all().map_err(failed)
}

fn public(args: PublicArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let text = input::read_file(&args.file)?;
    // Normally a private key; a public one is accepted too (handy to turn PEM into a JWK).
    let mut key = match signing_key(&text, &args.file, args.alg) {
        Ok(private) => private.verifying_key()?,
        Err(private_err) => verifying_key(&text, &args.file, args.alg).map_err(|_| private_err)?,
    };
    if key.alg().family() == Family::Hmac {
        return Err(CliError::key(format!(
            "{}: a symmetric ({}) key has no public part; verifiers need the secret itself",
            args.file,
            key.alg()
        )));
    }
    if let Some(kid) = args.kid {
        key = key.with_kid(kid);
    }
    let text = if args.pem {
        key.to_pem()?
    } else if args.jwks {
        JwkSet {
            keys: vec![key.to_jwk()],
        }
        .to_json()
    } else {
        key.to_jwk().to_json()
    };
    writeln!(out, "{}", text.trim_end()).map_err(CliError::Output)
}

fn thumbprint(args: ThumbprintArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let text = input::read_file(&args.file)?;
    check_key_text(&text, &args.file, args.alg)?;
    let thumbprint = if is_pem(&text) {
        verifying_key(&text, &args.file, args.alg)?.thumbprint()
    } else {
        // RFC 7638 needs only the key's members, not its algorithm.
        std::str::from_utf8(&text)
            .map_err(|_| CliError::key(format!("{}: not a JWK or PEM file", args.file)))
            .and_then(|t| Jwk::from_json(t).map_err(|e| key_error(&args.file, e)))?
            .thumbprint()
    }
    .map_err(|e| key_error(&args.file, e))?;
    writeln!(out, "{thumbprint}").map_err(CliError::Output)
}

/// Reads a private key from the text of a JWK or PEM file named by `source`.
pub fn signing_key(
    text: &[u8],
    source: &Source,
    alg: Option<Algorithm>,
) -> Result<SigningKey, CliError> {
    check_key_text(text, source, alg)?;
    signing_key_from_text(text, alg).map_err(|e| key_error(source, e))
}

/// Reads a verifying key from the text of a JWK or PEM file (public or private).
pub fn verifying_key(
    text: &[u8],
    source: &Source,
    alg: Option<Algorithm>,
) -> Result<VerifyingKey, CliError> {
    check_key_text(text, source, alg)?;
    verifying_key_from_text(text, alg).map_err(|e| key_error(source, e))
}

/// The mistakes worth a clearer message than the library's: a PEM key without `--alg`, and
/// a JWK Set where one key is expected.
fn check_key_text(text: &[u8], source: &Source, alg: Option<Algorithm>) -> Result<(), CliError> {
    if is_pem(text) && alg.is_none() {
        return Err(CliError::key(format!(
            "{source}: a PEM key carries no algorithm: pass --alg"
        )));
    }
    if !is_pem(text) && text.windows(6).any(|w| w == b"\"keys\"") {
        return Err(CliError::key(format!(
            "{source}: this looks like a JWK Set; give one JWK (or use --jwks to verify)"
        )));
    }
    Ok(())
}

fn is_pem(text: &[u8]) -> bool {
    text.trim_ascii_start().starts_with(b"-----BEGIN ")
}

/// A library error about a key file: always the caller's configuration (exit 2), named
/// after the file.
pub fn key_error(source: &Source, e: tessera_jose::Error) -> CliError {
    CliError::Usage {
        code: e.code(),
        message: format!("{source}: {}", e.detail()).into(),
    }
}

/// The clap value parser for `--alg`: exact registered names only (`none` never exists).
pub fn parse_alg(name: &str) -> Result<Algorithm, String> {
    name.parse()
        .map_err(|e: tessera_jose::Error| e.detail().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alg_names_are_exact() {
        assert_eq!(parse_alg("ES256"), Ok(Algorithm::ES256));
        assert_eq!(parse_alg("EdDSA"), Ok(Algorithm::EdDSA));
        for bad in ["none", "None", "es256", "HS1", ""] {
            assert!(parse_alg(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pem_without_alg_is_a_usage_error() {
        let src = Source::File("k.pem".into());
        let err = check_key_text(b"\n-----BEGIN PRIVATE KEY-----\n", &src, None);
        assert!(matches!(
            err,
            Err(CliError::Usage {
                code: "invalid_key",
                ..
            })
        ));
        assert!(
            check_key_text(b"-----BEGIN PRIVATE KEY-----", &src, Some(Algorithm::ES256)).is_ok()
        );
    }

    #[test]
    fn a_jwks_is_not_a_key() {
        let src = Source::File("jwks.json".into());
        assert!(check_key_text(br#"{"keys":[]}"#, &src, None).is_err());
        assert!(check_key_text(br#"{"kty":"EC"}"#, &src, None).is_ok());
    }
}
