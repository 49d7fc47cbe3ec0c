//! The services `--phases compare` measures side by side, and how each one starts.
//!
//! Adding one: a variant of [`TargetKind`] (it becomes a `--targets` value), its arms in
//! [`TargetKind::start`], [`TargetKind::supports`] and the paths, and a flag for its binary
//! when it has one of its own (the gate is `--server`'s `tessera gate --issuer URL`). The
//! rounds, the figures and the ratio table need no change: every target is measured the
//! same way and compared with the baseline.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use clap::ValueEnum;

use crate::args::Args;
use crate::server::{free_loopback_port, Server};

/// The variables HTTP clients take a proxy from.
const PROXY_VARS: [&str; 6] = [
    "ALL_PROXY",
    "all_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
];

/// A service measured side by side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ValueEnum)]
pub enum TargetKind {
    /// `tessera serve` itself, the issuer of the tokens, on its own `/v1/me`.
    Tessera,
    /// `tessera-baseline` (src/bin/baseline.rs): axum + jsonwebtoken written by hand.
    Baseline,
    /// `tessera-verifier-app` (src/bin/verifier_app.rs): the same service on axum with the
    /// `tessera-verifier` layer.
    Verifier,
    /// `tessera gate`'s `/auth` (forward authentication), keys by discovery.
    Gate,
}

/// What a target needs to check the issuer's tokens.
#[derive(Debug)]
pub struct Issuer<'a> {
    /// The running `tessera serve`.
    pub server: &'a Server,
    /// Its `iss`: `http://ADDR`, the default `server.public_url`.
    pub url: String,
    /// The `aud` of its access tokens.
    pub audience: &'a str,
    /// Its signing algorithm.
    pub alg: &'a str,
    /// A file holding its raw HMAC secret, for HS* (never published in the JWKS).
    pub hmac_secret: Option<PathBuf>,
    /// Where targets keep their output.
    pub dir: &'a Path,
    /// The CPU targets run on, when pinned.
    pub cpu: Option<usize>,
}

impl Issuer<'_> {
    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.url)
    }
}

/// A target while it runs.
#[derive(Debug)]
pub struct Running {
    pub kind: TargetKind,
    pub addr: SocketAddr,
    pub pid: u32,
    /// The target's own process, stopped on drop; `None` when the target is the issuer.
    own: Option<Server>,
}

impl Running {
    pub fn stop(&mut self) -> Result<Option<String>> {
        self.own.as_mut().map(Server::stop).transpose()
    }
}

impl TargetKind {
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Tessera => "tessera",
            TargetKind::Baseline => "baseline",
            TargetKind::Verifier => "verifier",
            TargetKind::Gate => "gate",
        }
    }

    /// The liveness endpoint, the cost of the HTTP stack alone.
    pub fn health_path(self) -> &'static str {
        match self {
            TargetKind::Tessera
            | TargetKind::Baseline
            | TargetKind::Verifier
            | TargetKind::Gate => "/healthz",
        }
    }

    /// The endpoint that checks `Authorization: Bearer` and answers 2xx for a valid token.
    pub fn protected_path(self) -> &'static str {
        match self {
            TargetKind::Tessera | TargetKind::Baseline | TargetKind::Verifier => "/v1/me",
            TargetKind::Gate => "/auth",
        }
    }

    /// Whether the target can check tokens of `alg`. (A target that only reads the
    /// issuer's JWKS cannot take an HMAC secret, which is never published.)
    pub fn supports(self, alg: &str) -> bool {
        match self {
            TargetKind::Tessera | TargetKind::Baseline | TargetKind::Verifier => true,
            TargetKind::Gate => !alg.starts_with("HS"),
        }
    }

    /// Starts the target and waits until it answers and knows the issuer's keys.
    pub async fn start(self, issuer: &Issuer<'_>, args: &Args) -> Result<Running> {
        let own = match self {
            TargetKind::Tessera => None,
            TargetKind::Baseline => {
                let mut cmd = own_binary(args.baseline.as_deref(), "--baseline")?;
                cmd.arg("--issuer")
                    .arg(&issuer.url)
                    .arg("--audience")
                    .arg(issuer.audience);
                match &issuer.hmac_secret {
                    Some(file) => cmd
                        .arg("--secret-file")
                        .arg(file)
                        .arg("--secret-alg")
                        .arg(issuer.alg),
                    None => cmd.arg("--jwks-url").arg(issuer.jwks_url()),
                };
                Some(launch(self, cmd, issuer).await?)
            }
            TargetKind::Verifier => {
                let mut cmd = own_binary(args.verifier_app.as_deref(), "--verifier-app")?;
                cmd.arg("--issuer")
                    .arg(&issuer.url)
                    .arg("--audience")
                    .arg(issuer.audience);
                if let Some(file) = &issuer.hmac_secret {
                    cmd.arg("--secret-file")
                        .arg(file)
                        .arg("--secret-alg")
                        .arg(issuer.alg);
                }
                Some(launch(self, cmd, issuer).await?)
            }
            TargetKind::Gate => {
                let mut cmd = own_binary(Some(&args.server), "--server")?;
                cmd.arg("gate")
                    .arg("--issuer")
                    .arg(&issuer.url)
                    .arg("--audience")
                    .arg(issuer.audience)
                    // Its log on stderr at warn, as a deployment would run it under load.
                    .env("RUST_LOG", "warn");
                Some(launch(self, cmd, issuer).await?)
            }
        };
        let (addr, pid) = match &own {
            Some(s) => (s.addr, s.pid),
            None => (issuer.server.addr, issuer.server.pid),
        };
        Ok(Running {
            kind: self,
            addr,
            pid,
            own,
        })
    }
}

/// A command for a target's own binary, without the proxy variables (its fetches go to
/// Tessera on loopback, never through a proxy).
fn own_binary(binary: Option<&Path>, flag: &str) -> Result<Command> {
    let binary = binary.ok_or_else(|| anyhow!("--phases compare needs {flag} PATH"))?;
    let mut cmd = Command::new(binary);
    for var in PROXY_VARS {
        cmd.env_remove(var);
    }
    Ok(cmd)
}

/// Starts `cmd --bind ADDR` on a fresh loopback port (on the servers' CPU) and waits until
/// `/healthz` answers and, for the gate, `/readyz` (the issuer's keys are known).
async fn launch(kind: TargetKind, mut cmd: Command, issuer: &Issuer<'_>) -> Result<Server> {
    let addr = free_loopback_port()?;
    cmd.arg("--bind").arg(addr.to_string());
    let mut s = Server::start(cmd, issuer.dir, kind.name(), addr, issuer.cpu)?;
    s.wait_ready(Duration::from_secs(30)).await?;
    if kind == TargetKind::Gate {
        let url = format!("http://{addr}/readyz");
        let client = reqwest::Client::builder().no_proxy().build()?;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let ready = client
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                break;
            }
            if std::time::Instant::now() > deadline {
                bail!("{} never became ready ({url}): {}", kind.name(), s.stderr());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(s)
}
