//! `tessera keys generate|public|thumbprint` (`list` and `rotate`, which work on the
//! server's database, are in `server_cmd`), and the key loading every command shares.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use tessera_jose::{
    signing_key_from_text, verifying_key_from_text, Algorithm, Family, Jwk, JwkSet, PublicKey,
    SigningKey, VerifyingKey,
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
    /// kid: `token encode` needs --alg (and --kid if wanted); the commands that need only the
    /// public key read an EC or Ed25519 key's algorithm from its curve.
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
    /// Algorithm of the key. A PEM key carries none: an EC or Ed25519 key's curve names it,
    /// and an RSA PEM key without --alg gives a JWK without alg.
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
    /// Algorithm of the key: not needed (the thumbprint does not depend on it), but checked
    /// against a PEM key's curve when given.
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
                    "wrote a new {} private key (PKCS#8 PEM) to {}; pass --alg {} to sign with it",
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
    let key = public_part(&text, &args.file, args.alg)?;
    if let PublicPart::Bound(hmac) = &key {
        if hmac.alg().family() == Family::Hmac {
            return Err(CliError::key(format!(
                "{}: a symmetric ({}) key has no public part; verifiers need the secret itself",
                args.file,
                hmac.alg()
            )));
        }
    }
    let text = if args.pem {
        key.to_pem().map_err(|e| key_error(&args.file, e))?
    } else {
        let mut jwk = key.to_jwk();
        if let Some(kid) = args.kid {
            jwk.kid = Some(kid);
        }
        if args.jwks {
            JwkSet { keys: vec![jwk] }.to_json()
        } else {
            jwk.to_json()
        }
    };
    writeln!(out, "{}", text.trim_end()).map_err(CliError::Output)
}

fn thumbprint(args: ThumbprintArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let text = input::read_file(&args.file)?;
    check_key_text(&text, &args.file)?;
    let thumbprint = if is_pem(&text) {
        public_part(&text, &args.file, args.alg)?.thumbprint()
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

/// Reads a private key from the text of a JWK or PEM file named by `source`. A PEM key
/// needs `alg`: signing names its algorithm, even where the key's curve allows only one.
pub fn signing_key(
    text: &[u8],
    source: &Source,
    alg: Option<Algorithm>,
) -> Result<SigningKey, CliError> {
    check_key_text(text, source)?;
    if is_pem(text) {
        // Read for clearer messages only; a broken key is reported by the library below.
        let public = PublicKey::from_pem(text).ok();
        match (alg, &public) {
            (None, _) => {
                let hint = match public.map(|k| k.algorithm()) {
                    Some(Some(own)) => format!(" ({own} for this {} key)", curve(own)),
                    Some(None) => " (RS256, RS384, RS512, PS256, PS384 or PS512 for RSA)".into(),
                    None => String::new(),
                };
                return Err(CliError::key(format!(
                    "{source}: a PEM key carries no algorithm: pass --alg to sign with it{hint}"
                )));
            }
            (Some(alg), Some(key)) => check_alg_fits(key, alg, source)?,
            (Some(_), None) => {}
        }
    }
    signing_key_from_text(text, alg).map_err(|e| key_error(source, e))
}

/// Reads a verifying key from the text of a JWK or PEM file (public or private). An EC or
/// Ed25519 PEM key needs no `alg` (its curve names it); an RSA PEM key does.
pub fn verifying_key(
    text: &[u8],
    source: &Source,
    alg: Option<Algorithm>,
) -> Result<VerifyingKey, CliError> {
    match public_part(text, source, alg)? {
        PublicPart::Bound(key) => Ok(key),
        PublicPart::Rsa(_) => Err(CliError::key(format!(
            "{source}: an RSA PEM key fits RS256, RS384, RS512, PS256, PS384 and PS512 alike: \
             pass --alg to verify with it"
        ))),
    }
}

/// The public part of a key file, for the commands that need nothing more.
enum PublicPart {
    /// Bound to an algorithm: the JWK's own, the one --alg names, or the one the PEM key's
    /// curve names.
    Bound(VerifyingKey),
    /// An RSA PEM key without --alg: usable for its JWK (without `alg`), PEM and thumbprint,
    /// not to verify.
    Rsa(PublicKey),
}

impl PublicPart {
    fn to_jwk(&self) -> Jwk {
        match self {
            PublicPart::Bound(key) => key.to_jwk(),
            PublicPart::Rsa(key) => key.to_jwk(),
        }
    }

    fn to_pem(&self) -> Result<String, tessera_jose::Error> {
        match self {
            PublicPart::Bound(key) => key.to_pem(),
            PublicPart::Rsa(key) => key.to_pem(),
        }
    }

    fn thumbprint(&self) -> Result<String, tessera_jose::Error> {
        match self {
            PublicPart::Bound(key) => key.thumbprint(),
            PublicPart::Rsa(key) => key.thumbprint(),
        }
    }
}

/// Reads the public part of a JWK or PEM key file, private or public (the commands
/// that need only the public part take EC and Ed25519 PEM keys without --alg).
fn public_part(
    text: &[u8],
    source: &Source,
    alg: Option<Algorithm>,
) -> Result<PublicPart, CliError> {
    check_key_text(text, source)?;
    if !is_pem(text) {
        // A private JWK whose key_ops allow only signing still has a public part.
        let key = match signing_key_from_text(text, alg) {
            Ok(private) => private.verifying_key(),
            Err(private_err) => verifying_key_from_text(text, alg).map_err(|_| private_err),
        };
        return key.map(PublicPart::Bound).map_err(|e| key_error(source, e));
    }
    let key = PublicKey::from_pem(text).map_err(|e| key_error(source, e))?;
    if let Some(alg) = alg {
        check_alg_fits(&key, alg, source)?;
    }
    match alg.or(key.algorithm()) {
        Some(alg) => key
            .bind(alg)
            .map(PublicPart::Bound)
            .map_err(|e| key_error(source, e)),
        None => Ok(PublicPart::Rsa(key)),
    }
}

/// Refuses an --alg that the PEM key's type contradicts, naming both.
fn check_alg_fits(key: &PublicKey, alg: Algorithm, source: &Source) -> Result<(), CliError> {
    match key.algorithm() {
        Some(own) if own != alg => Err(CliError::key(format!(
            "{source}: --alg {alg} contradicts the key: this {} key is for {own} only",
            curve(own)
        ))),
        None if alg.family() != Family::Rsa => Err(CliError::key(format!(
            "{source}: --alg {alg} contradicts the key: this RSA key is for RS256, RS384, \
             RS512, PS256, PS384 or PS512"
        ))),
        _ => Ok(()),
    }
}

/// The curve that names `alg` (P-256 for ES256, ...).
fn curve(alg: Algorithm) -> &'static str {
    alg.curve().unwrap_or("RSA")
}

/// The mistake worth a clearer message than the library's: a JWK Set where one key is
/// expected.
fn check_key_text(text: &[u8], source: &Source) -> Result<(), CliError> {
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
    fn pem_without_alg_cannot_sign() {
        let src = Source::File("k.pem".into());
        let err = signing_key(b"\n-----BEGIN PRIVATE KEY-----\n", &src, None);
        match err {
            Err(CliError::Usage {
                code: "invalid_key",
                message,
            }) => assert!(message.contains("pass --alg"), "{message}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_jwks_is_not_a_key() {
        let src = Source::File("jwks.json".into());
        assert!(check_key_text(br#"{"keys":[]}"#, &src).is_err());
        assert!(check_key_text(br#"{"kty":"EC"}"#, &src).is_ok());
    }
}
