//! `tessera token encode|decode|verify`.

use std::io::Write;
use std::time::Duration;

use clap::{ArgGroup, Args, Subcommand};
use serde_json::{Map, Value};
use tessera_jose::dangerous::decode_unverified;
use tessera_jose::{
    base64url, Algorithm, JwkSet, Signer, SigningKey, Verifier, VerifyingKey, DEFAULT_MAX_TOKEN_LEN,
};
use tessera_server::config::parse_duration;

use crate::error::CliError;
use crate::fetch;
use crate::input::{self, Source};
use crate::keys::{self, parse_alg};

/// The algorithm of `--secret-file` when `--alg` is not given.
const DEFAULT_SECRET_ALG: Algorithm = Algorithm::HS256;

/// Most `--require` names the verifier checks.
const MAX_REQUIRED: usize = 64;

/// Signing, inspecting and verifying JWTs.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    Encode(EncodeArgs),
    Decode(DecodeArgs),
    Verify(VerifyArgs),
}

/// Sign a JWT and print it in compact form.
///
/// Claims are built in this order, later steps overriding earlier ones: --claims, then each
/// --claim, then --exp (which sets `exp` and `iat`) and --nbf. A token without `exp` is
/// refused by verifiers by default (a warning says so).
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("signing_key").required(true).args(["key", "secret_file"])))]
pub struct EncodeArgs {
    /// Private key file: a JWK, or a PEM key (which needs --alg); - for standard input.
    #[arg(long, value_name = "FILE")]
    key: Option<Source>,
    /// File whose raw bytes are the HMAC secret (every byte counts, a final newline
    /// too); at least 32 bytes for HS256, 48 for HS384, 64 for HS512.
    #[arg(long, value_name = "FILE")]
    secret_file: Option<Source>,
    /// Algorithm: required for PEM keys; must match a JWK's own alg; HS256 by default
    /// with --secret-file.
    #[arg(long, value_parser = parse_alg)]
    alg: Option<Algorithm>,
    /// Header kid [default: the JWK's kid; none for PEM keys and secrets].
    #[arg(long)]
    kid: Option<String>,
    /// Header typ, e.g. at+jwt [default: none].
    #[arg(long)]
    typ: Option<String>,
    /// Lifetime: sets exp to now + DURATION and iat to now (e.g. 90s, 15m, 2h, 14d).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    exp: Option<Duration>,
    /// Sets nbf to now + DURATION (now when given without a value).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration,
          num_args = 0..=1, default_missing_value = "0s")]
    nbf: Option<Duration>,
    /// One claim, NAME=VALUE; VALUE is read as JSON when it parses (n=5 is a number,
    /// a=[1,2] an array, ok=true a boolean), else taken as a string (sub=u1). Write
    /// sub='"123"' for a string of digits. Repeatable.
    #[arg(long = "claim", value_name = "NAME=VALUE", value_parser = parse_claim)]
    claim: Vec<(String, Value)>,
    /// All claims as one JSON object; --claim entries override its members.
    #[arg(long, value_name = "JSON", value_parser = parse_claims_object)]
    claims: Option<Map<String, Value>>,
}

/// Print a token's header and payload WITHOUT verifying it (a warning on stderr says so).
#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// The compact token, or - to read it from standard input.
    #[arg(value_name = "TOKEN")]
    token: String,
}

/// Verify a JWT: exit 0 and print its claims when valid; exit 1 with `code: description` on
/// stderr when not.
///
/// Checks the signature with the given key (the key decides the algorithm; a key given with
/// --key or --secret-file is used whatever kid the token names, while --jwks picks the key by
/// kid), then `exp`
/// (required), `nbf` and `iat` with leeway, and `iss`, `aud`, `typ` and required claims
/// when asked.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("verification_key").required(true).args(["key", "jwks", "secret_file"])))]
pub struct VerifyArgs {
    /// The compact token, or - to read it from standard input.
    #[arg(value_name = "TOKEN")]
    token: String,
    /// Key file: a JWK (public or private), or a PEM key (an EC or Ed25519 key's curve names
    /// its algorithm; an RSA key needs --alg). Used whatever kid the token names.
    #[arg(long, value_name = "FILE")]
    key: Option<Source>,
    /// JWK Set file, or an http(s) URL to fetch it from (10 s at most, 1 MiB at most, up to
    /// 3 redirects; https trusts the system's CA roots); the key is chosen by the token's kid.
    #[arg(long, value_name = "FILE_OR_URL")]
    jwks: Option<String>,
    /// File whose raw bytes are the HMAC secret (see `token encode --help`).
    #[arg(long, value_name = "FILE")]
    secret_file: Option<Source>,
    /// Accepted issuer; repeat to accept several.
    #[arg(long)]
    iss: Vec<String>,
    /// Accepted audience (the token's aud must contain one); repeat to accept several.
    #[arg(long)]
    aud: Vec<String>,
    /// Clock leeway for exp, nbf and iat, in seconds (or a duration such as 2m).
    #[arg(long, value_name = "SECONDS", default_value = "60", value_parser = parse_seconds)]
    leeway: u64,
    /// Expected algorithm: required for RSA PEM keys; HS256 by default with --secret-file;
    /// with --jwks only keys of this algorithm are used.
    #[arg(long, value_parser = parse_alg)]
    alg: Option<Algorithm>,
    /// Required header typ (e.g. at+jwt; compared as RFC 7515 §4.1.9 says).
    #[arg(long)]
    typ: Option<String>,
    /// A claim that must be present; repeatable.
    #[arg(long, value_name = "CLAIM")]
    require: Vec<String>,
}

/// Runs one `token` subcommand at time `now` (Unix seconds), writing its result to `out`.
pub fn run(cmd: TokenCommand, now: u64, out: &mut dyn Write) -> Result<(), CliError> {
    match cmd {
        TokenCommand::Encode(args) => encode(args, now, out),
        TokenCommand::Decode(args) => decode(args, out),
        TokenCommand::Verify(args) => verify(args, now, out),
    }
}

fn encode(args: EncodeArgs, now: u64, out: &mut dyn Write) -> Result<(), CliError> {
    let mut key = match (&args.key, &args.secret_file) {
        (Some(source), _) => keys::signing_key(&input::read_file(source)?, source, args.alg)?,
        (None, Some(source)) => {
            let alg = args.alg.unwrap_or(DEFAULT_SECRET_ALG);
            let secret = read_secret(source)?;
            SigningKey::from_secret(alg, &secret).map_err(|e| keys::key_error(source, e))?
        }
        (None, None) => return Err(CliError::request("--key or --secret-file is required")),
    };
    if let Some(kid) = args.kid {
        key = key.with_kid(kid);
    }
    let claims = build_claims(args.claims, args.claim, args.exp, args.nbf, now)?;
    if !claims.contains_key("exp") {
        eprintln!(
            "warning: the token has no exp claim (add --exp); verifiers refuse it by default"
        );
    }
    let mut signer = Signer::new(key);
    if let Some(typ) = args.typ {
        signer = signer.with_typ(typ);
    }
    let token = signer.sign(&claims)?;
    if token.len() > DEFAULT_MAX_TOKEN_LEN {
        eprintln!(
            "warning: the token is {} bytes; verifiers refuse tokens over {DEFAULT_MAX_TOKEN_LEN}",
            token.len()
        );
    }
    writeln!(out, "{token}").map_err(CliError::Output)
}

/// The claims of a new token: `base`, then each `--claim`, then the time claims.
fn build_claims(
    base: Option<Map<String, Value>>,
    claim: Vec<(String, Value)>,
    exp: Option<Duration>,
    nbf: Option<Duration>,
    now: u64,
) -> Result<Map<String, Value>, CliError> {
    let after = |d: Duration, flag: &str| {
        now.checked_add(d.as_secs())
            .ok_or_else(|| CliError::request(format!("{flag} is too far in the future")))
    };
    let mut claims = base.unwrap_or_default();
    claims.extend(claim);
    if let Some(exp) = exp {
        claims.insert("exp".into(), after(exp, "--exp")?.into());
        claims.insert("iat".into(), now.into());
    }
    if let Some(nbf) = nbf {
        claims.insert("nbf".into(), after(nbf, "--nbf")?.into());
    }
    Ok(claims)
}

/// The clap value parser for `--claim NAME=VALUE`.
fn parse_claim(arg: &str) -> Result<(String, Value), String> {
    let (name, value) = arg
        .split_once('=')
        .ok_or_else(|| format!("{arg:?} is not NAME=VALUE"))?;
    if name.is_empty() {
        return Err(format!("{arg:?} has an empty claim name"));
    }
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
    Ok((name.to_owned(), value))
}

/// The clap value parser for `--claims JSON`.
fn parse_claims_object(arg: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str(arg) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("the claims must be a JSON object".to_owned()),
        Err(e) => Err(format!("not valid JSON: {e}")),
    }
}

fn decode(args: DecodeArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let token = input::read_token(&args.token)?;
    let token = decode_unverified(&token)?;
    let payload = match token.payload {
        Some(claims) => Value::Object(claims),
        None => match String::from_utf8(token.payload_bytes) {
            Ok(text) => Value::String(text),
            Err(e) => {
                eprintln!("note: the payload is not UTF-8; it is shown in base64url");
                Value::String(base64url::encode(e.as_bytes()))
            }
        },
    };
    eprintln!("warning: this token was decoded but NOT verified: anyone could have written it");
    let decoded = serde_json::json!({ "header": Value::Object(token.header), "payload": payload });
    writeln!(out, "{decoded}").map_err(CliError::Output)
}

fn verify(args: VerifyArgs, now: u64, out: &mut dyn Write) -> Result<(), CliError> {
    let token_source = Source::parse(args.token.as_ref());
    let jwks_source = args.jwks.as_deref().map(|j| Source::parse(j.as_ref()));
    input::at_most_one_stdin(
        [
            Some(&token_source),
            args.key.as_ref(),
            args.secret_file.as_ref(),
            jwks_source.as_ref(),
        ]
        .into_iter()
        .flatten(),
    )?;
    let verifier = verifier(&args)?;
    let token = input::read_token(&args.token)?;
    let verified = verifier.verify::<Value>(&token, now)?;
    writeln!(out, "{}", verified.claims()).map_err(CliError::Output)
}

/// The verifier the flags describe: its key (or JWK Set) and its claim rules.
///
/// A key given with --key or --secret-file is the key: the token's `kid` need not match it
/// and the signature decides. Only --jwks selects a key by `kid`.
fn verifier(args: &VerifyArgs) -> Result<Verifier, CliError> {
    let mut verifier = if let Some(source) = &args.key {
        Verifier::explicit(keys::verifying_key(
            &input::read_file(source)?,
            source,
            args.alg,
        )?)
    } else if let Some(jwks) = &args.jwks {
        jwks_verifier(jwks, args.alg)?
    } else if let Some(source) = &args.secret_file {
        let alg = args.alg.unwrap_or(DEFAULT_SECRET_ALG);
        let secret = read_secret(source)?;
        Verifier::explicit(
            VerifyingKey::from_secret(alg, &secret).map_err(|e| keys::key_error(source, e))?,
        )
    } else {
        return Err(CliError::request(
            "one of --key, --jwks or --secret-file is required",
        ));
    };
    if args.require.len() > MAX_REQUIRED {
        return Err(CliError::request(format!(
            "at most {MAX_REQUIRED} --require names"
        )));
    }
    verifier = verifier.with_leeway(args.leeway);
    for iss in &args.iss {
        verifier = verifier.with_issuer(iss);
    }
    for aud in &args.aud {
        verifier = verifier.with_audience(aud);
    }
    if let Some(typ) = &args.typ {
        verifier = verifier.with_typ(typ);
    }
    for claim in &args.require {
        verifier = verifier.require(claim);
    }
    Ok(verifier)
}

fn jwks_verifier(location: &str, alg: Option<Algorithm>) -> Result<Verifier, CliError> {
    let (mut set, source) = if fetch::is_url(location) {
        (
            fetch::jwks(location)?,
            fetch::printable(location).into_owned(),
        )
    } else {
        let source = Source::parse(location.as_ref());
        let text = input::read_file(&source)?;
        let text = std::str::from_utf8(&text)
            .map_err(|_| CliError::key(format!("{source}: a JWK Set must be UTF-8 JSON")))?;
        let set = JwkSet::from_json(text).map_err(|e| keys::key_error(&source, e))?;
        (set, source.to_string())
    };
    if let Some(alg) = alg {
        // --alg narrows the set: keys bound to another algorithm are not candidates.
        set.keys
            .retain(|k| k.alg.as_deref().is_none_or(|a| a == alg.as_str()));
    }
    Verifier::from_jwks(&set, alg).map_err(|e| CliError::Usage {
        code: e.code(),
        message: format!("{source}: {}", e.detail()).into(),
    })
}

/// Seconds for `--leeway`: a bare number of seconds (`60`) or a duration (`2m`).
fn parse_seconds(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(n) => Ok(n),
        Err(_) => parse_duration(text).map(|d| d.as_secs()),
    }
}

/// Reads a raw HMAC secret file. Every byte is part of the secret; a final newline (as
/// `echo` writes) is kept, but worth a warning since other tools may drop it.
fn read_secret(source: &Source) -> Result<zeroize::Zeroizing<Vec<u8>>, CliError> {
    let secret = input::read_file(source)?;
    if secret.last() == Some(&b'\n') {
        eprintln!("warning: {source} ends with a newline, which is part of the secret");
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn claim_values_are_json_when_they_parse() {
        let cases = [
            ("sub=u1", json!("u1")),
            ("n=5", json!(5)),
            ("a=[1,2]", json!([1, 2])),
            ("ok=true", json!(true)),
            ("o={\"k\":1}", json!({"k": 1})),
            ("s=\"123\"", json!("123")),
            ("empty=", json!("")),
            ("eq=a=b", json!("a=b")),
            (
                "url=https://x.example/?a=1",
                json!("https://x.example/?a=1"),
            ),
        ];
        for (arg, want) in cases {
            let (_, got) = parse_claim(arg).unwrap_or_else(|e| panic!("{arg}: {e}"));
            assert_eq!(got, want, "{arg}");
        }
        assert!(parse_claim("novalue").is_err());
        assert!(parse_claim("=5").is_err());
    }

    #[test]
    fn claims_must_be_an_object() {
        assert!(parse_claims_object(r#"{"sub":"u1"}"#).is_ok());
        assert!(parse_claims_object("[1]").is_err());
        assert!(parse_claims_object("{").is_err());
    }

    #[test]
    fn claims_layer_in_order() {
        let base = parse_claims_object(r#"{"sub":"base","exp":1,"iss":"i"}"#).ok();
        let claim = vec![
            ("sub".to_owned(), json!("flag")),
            ("exp".to_owned(), json!(2)),
        ];
        let now = 1_700_000_000;
        let got = build_claims(
            base,
            claim,
            Some(Duration::from_secs(900)),
            Some(Duration::ZERO),
            now,
        )
        .ok();
        let want = json!({"sub":"flag","iss":"i","exp":now + 900,"iat":now,"nbf":now});
        assert_eq!(got.map(Value::Object), Some(want));
    }

    #[test]
    fn no_time_flags_no_time_claims() {
        let got = build_claims(None, vec![], None, None, 5).ok();
        assert_eq!(got.map(|c| c.is_empty()), Some(true));
    }

    #[test]
    fn leeway_takes_bare_seconds_or_a_duration() {
        assert_eq!(parse_seconds("60"), Ok(60));
        assert_eq!(parse_seconds("0"), Ok(0));
        assert_eq!(parse_seconds("2m"), Ok(120));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("soon").is_err());
    }

    #[test]
    fn exp_overflow_is_a_usage_error() {
        let got = build_claims(None, vec![], Some(Duration::from_secs(u64::MAX)), None, 5);
        assert!(matches!(got, Err(CliError::Usage { .. })));
    }
}
