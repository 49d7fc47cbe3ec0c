//! `tessera serve`, `tessera users …`, `tessera sessions …` and `tessera keys list|rotate`
//! (see `tessera help`): the server and the
//! admin operations on the configured database, usable while the server runs.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use serde_json::json;
use tessera_jose::{base64url, random_bytes, SecretString};
use tessera_server::{domain_settings, load_master_key, Config};
use tessera_tokens::{
    create_user, key_phases, rotate_keys, Clock, KeyRing, KeyRingError, MasterKey, PasswordHasher,
    PasswordParams, RevokeReason, SessionRecord, SignupError, Store, SystemClock, Username,
};

use crate::error::CliError;

/// The configuration file option shared by every server-side command.
#[derive(Debug, Args)]
pub struct ConfigArg {
    /// TOML configuration file; `TESSERA_<SECTION>__<KEY>` variables override it.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
}

/// `tessera users …`
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user. Without --password-stdin a random password is generated and printed.
    Add {
        /// The username (1–64 characters).
        username: String,
        /// Read the password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// List users as JSON.
    List {
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// `tessera sessions …`
#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List live sessions as JSON.
    List {
        /// Only this user's sessions.
        #[arg(long, value_name = "ID")]
        user: Option<String>,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Revoke one session, or every session of a user.
    Revoke {
        /// The session id.
        #[arg(required_unless_present = "user", conflicts_with = "user")]
        sid: Option<String>,
        /// Revoke every session of this user instead.
        #[arg(long, value_name = "ID")]
        user: Option<String>,
        #[command(flatten)]
        config: ConfigArg,
    },
}

fn load_config(arg: &ConfigArg) -> Result<Config, CliError> {
    // Variables that are not UTF-8 cannot be ours (all Tessera keys are ASCII): skip them
    // instead of panicking like `std::env::vars` would.
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
    Config::load(arg.config.as_deref(), env).map_err(|e| CliError::request(e.to_string()))
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::request(format!("cannot start the async runtime: {e}")))
}

fn unavailable(e: impl std::fmt::Display) -> CliError {
    CliError::Usage {
        code: "unavailable",
        message: e.to_string().into(),
    }
}

async fn open(config: &Config) -> Result<Arc<dyn Store>, CliError> {
    tessera_server::connect_store(&config.database)
        .await
        .map_err(unavailable)
}

/// `tessera serve [--config FILE]`.
pub fn serve(arg: ConfigArg) -> Result<(), CliError> {
    let config = load_config(&arg)?;
    tessera_server::init_logging(&config);
    let admin = std::env::var("TESSERA_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .map(SecretString::new);
    runtime()?
        .block_on(tessera_server::serve(config, admin))
        .map_err(|e| CliError::request(e.to_string()))
}

/// `tessera users …`
pub fn users(cmd: UsersCommand, out: &mut impl Write) -> Result<(), CliError> {
    match cmd {
        UsersCommand::Add {
            username,
            password_stdin,
            config,
        } => {
            let config = load_config(&config)?;
            let username =
                Username::parse(&username).map_err(|e| signup_error(SignupError::from(e)))?;
            let (password, generated) = if password_stdin {
                (read_password()?, false)
            } else {
                let mut b = [0u8; 18];
                random_bytes(&mut b).map_err(CliError::from)?;
                (SecretString::new(base64url::encode(&b)), true)
            };
            let shown = generated.then(|| password.clone());
            let id = runtime()?.block_on(async {
                let store = open(&config).await?;
                let hasher = PasswordHasher::new(PasswordParams::OWASP, 1);
                create_user(
                    store.as_ref(),
                    &hasher,
                    config.password.min_length,
                    &username,
                    password,
                    SystemClock.now(),
                )
                .await
                .map_err(signup_error)
            })?;
            let mut answer = json!({ "id": id, "username": username.as_str() });
            if let Some(pw) = shown {
                answer["password"] = pw.expose_secret().into();
            }
            writeln!(out, "{answer}").map_err(CliError::Output)
        }
        UsersCommand::List { config } => {
            let config = load_config(&config)?;
            let users = runtime()?
                .block_on(async { open(&config).await?.list_users().await.map_err(unavailable) })?;
            let list: Vec<_> = users
                .iter()
                .map(|u| json!({ "id": u.id, "username": u.username, "created_at": u.created_at }))
                .collect();
            writeln!(out, "{}", serde_json::Value::from(list)).map_err(CliError::Output)
        }
    }
}

/// `tessera keys list`: every stored signing key with its phase now.
pub fn keys_list(arg: ConfigArg, out: &mut dyn Write) -> Result<(), CliError> {
    let config = load_config(&arg)?;
    let ring = domain_settings(&config, PasswordParams::OWASP).key_ring_config();
    let now = SystemClock.now();
    let keys = runtime()?.block_on(async {
        open(&config)
            .await?
            .signing_keys()
            .await
            .map_err(unavailable)
    })?;
    let phases = key_phases(&keys, now, ring.retain);
    let list: Vec<_> = keys
        .iter()
        .zip(phases)
        .map(|(k, phase)| {
            json!({
                "kid": k.kid,
                "alg": k.alg,
                "state": phase.as_str(),
                "created_at": k.created_at,
                "activates_at": k.activates_at,
                "retired_at": k.retired_at,
                // Unpublished (and deleted by the server) from then on.
                "removed_at": k.retired_at.map(|r| r.saturating_add(ring.retain)),
            })
        })
        .collect();
    writeln!(out, "{}", serde_json::Value::from(list)).map_err(CliError::Output)
}

/// `tessera keys rotate`: stores a new key that signs after the pre-publication delay.
pub fn keys_rotate(arg: ConfigArg, out: &mut dyn Write) -> Result<(), CliError> {
    let config = load_config(&arg)?;
    let master = existing_master_key(&config)?;
    let ring = domain_settings(&config, PasswordParams::OWASP).key_ring_config();
    let now = SystemClock.now();
    let key = runtime()?.block_on(async {
        let store = open(&config).await?;
        // Loading the ring opens every published key: a master key that is not the
        // server's fails here, before anything is stored under it.
        KeyRing::load(store.as_ref(), &master, ring.clone(), now)
            .await
            .map_err(key_error)?;
        rotate_keys(store.as_ref(), &master, &ring, now)
            .await
            .map_err(key_error)
    })?;
    let Some(key) = key else {
        return Err(unavailable(
            "another rotation was stored at the same moment; see `tessera keys list`",
        ));
    };
    let answer = json!({
        "kid": key.kid,
        "alg": key.alg,
        "state": "next",
        "activates_at": key.activates_at,
    });
    writeln!(out, "{answer}").map_err(CliError::Output)
}

/// The server's master key, from `TESSERA_MASTER_KEY` or the existing key file; never
/// creates one (a key sealed under a new master key would be useless to the server).
fn existing_master_key(config: &Config) -> Result<MasterKey, CliError> {
    let env = std::env::var("TESSERA_MASTER_KEY").ok();
    let file = &config.keys.master_key_file;
    if env.is_none() && !file.exists() {
        return Err(CliError::request(format!(
            "no master key: set TESSERA_MASTER_KEY, or run where the server's {} is",
            file.display()
        )));
    }
    load_master_key(env.as_deref(), &config.keys).map_err(|e| CliError::request(e.to_string()))
}

fn key_error(e: KeyRingError) -> CliError {
    match e {
        KeyRingError::Store(e) => unavailable(e),
        other => CliError::request(other.to_string()),
    }
}

/// `tessera sessions …`
pub fn sessions(cmd: SessionsCommand, out: &mut impl Write) -> Result<(), CliError> {
    match cmd {
        SessionsCommand::List { user, config } => {
            let config = load_config(&config)?;
            let sessions = runtime()?.block_on(async {
                open(&config)
                    .await?
                    .list_sessions(user.as_deref(), SystemClock.now())
                    .await
                    .map_err(unavailable)
            })?;
            let list: Vec<_> = sessions.iter().map(session_json).collect();
            writeln!(out, "{}", serde_json::Value::from(list)).map_err(CliError::Output)
        }
        SessionsCommand::Revoke { sid, user, config } => {
            let config = load_config(&config)?;
            let now = SystemClock.now();
            // Refuse the sessions' access tokens (through the revocation feed every server
            // reads) until the last one issued before now has expired.
            let until = now.saturating_add(
                domain_settings(&config, PasswordParams::OWASP).revocation_lifetime(),
            );
            let revoked = runtime()?.block_on(async {
                let store = open(&config).await?;
                match (&sid, &user) {
                    (Some(sid), _) => store
                        .revoke_session(sid, now, RevokeReason::Admin, until)
                        .await
                        .map(u64::from),
                    (None, Some(user)) => {
                        store
                            .revoke_user_sessions(user, now, RevokeReason::Admin, until)
                            .await
                    }
                    (None, None) => Ok(0),
                }
                .map_err(unavailable)
            })?;
            if sid.is_some() && revoked == 0 {
                return Err(CliError::Rejected {
                    code: "not_found",
                    message: "no such unrevoked session".into(),
                });
            }
            writeln!(out, "{}", json!({ "revoked": revoked })).map_err(CliError::Output)
        }
    }
}

fn session_json(s: &SessionRecord) -> serde_json::Value {
    json!({
        "id": s.id,
        "user_id": s.user_id,
        "created_at": s.created_at,
        "last_used_at": s.last_used_at,
        "expires_at": s.expires_at.min(s.idle_expires_at),
        "user_agent": s.user_agent,
        "ip": s.ip,
    })
}

fn read_password() -> Result<SecretString, CliError> {
    let mut text = String::new();
    std::io::stdin()
        .lock()
        .take(4096)
        .read_to_string(&mut text)
        .map_err(|e| CliError::request(format!("cannot read the password: {e}")))?;
    let pw = text.lines().next().unwrap_or_default().to_owned();
    zeroize::Zeroize::zeroize(&mut text);
    Ok(SecretString::new(pw))
}

fn signup_error(e: SignupError) -> CliError {
    let code = match &e {
        SignupError::UsernameTaken => "username_taken",
        SignupError::WeakPassword(_) => "weak_password",
        SignupError::InvalidUsername(_) | SignupError::PasswordTooLong => "invalid_request",
        SignupError::Failure(_) => return unavailable(&e),
    };
    CliError::Rejected {
        code,
        message: e.to_string().into(),
    }
}
