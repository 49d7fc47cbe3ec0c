//! The server under test: `tessera serve` as a child process in its own temporary
//! directory, configured only through `TESSERA_*` variables, always killed at the end.

use std::fs::{self, File};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use rustix::process::{kill_process, Pid, Signal};

use crate::client::{Conn, Requests};
use crate::pin;

/// What every start of the server gets.
#[derive(Debug, Clone)]
pub struct Launch {
    pub binary: PathBuf,
    pub dir: PathBuf,
    pub alg: String,
    /// Extra `KEY=VALUE` variables from the command line (e.g. a database URL).
    pub extra_env: Vec<(String, String)>,
    /// The CPU the server runs on (`--phases compare`, [`crate::pin`]); `None`: any.
    pub cpu: Option<usize>,
}

/// A running `tessera serve`; dropping it stops the process (SIGTERM, then SIGKILL).
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub pid: u32,
    pub spawned_at: Instant,
    stderr_path: PathBuf,
}

impl Launch {
    /// Starts the server on a fresh loopback port. Rate limits are lifted so the limiter
    /// never answers 429 for the benchmark's own traffic.
    pub fn spawn(&self, start_no: usize) -> Result<Server> {
        let addr = free_loopback_port()?;
        let mut cmd = Command::new(&self.binary);
        cmd.arg("serve").current_dir(&self.dir);
        // Only our settings: a TESSERA_DATABASE__URL left in the caller's shell must not
        // silently point the benchmark elsewhere.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("TESSERA_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("TESSERA_SERVER__BIND", addr.to_string())
            .env("TESSERA_TOKENS__ALGORITHM", &self.alg)
            .env("TESSERA_RATE_LIMIT__LOGIN_PER_MINUTE", "1000000")
            .env("TESSERA_RATE_LIMIT__LOGIN_SUCCESS_PER_MINUTE", "1000000")
            // `--sessions` logins of one user: none may push another out.
            .env("TESSERA_SESSIONS__MAX_PER_USER", "1000000")
            .env("TESSERA_RATE_LIMIT__REFRESH_PER_MINUTE", "100000000")
            .env("TESSERA_RATE_LIMIT__SIGNUP_PER_MINUTE", "1000000");
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
        Server::start(
            cmd,
            &self.dir,
            &format!("server-{start_no}"),
            addr,
            self.cpu,
        )
    }
}

impl Server {
    /// Starts `cmd`, which is to listen on `addr`, with its output in `NAME.stdout` and
    /// `NAME.stderr` in `dir`, on `cpu` when given.
    pub fn start(
        mut cmd: Command,
        dir: &Path,
        name: &str,
        addr: SocketAddr,
        cpu: Option<usize>,
    ) -> Result<Server> {
        let stdout_path = dir.join(format!("{name}.stdout"));
        let stderr_path = dir.join(format!("{name}.stderr"));
        cmd.stdin(Stdio::null())
            .stdout(File::create(&stdout_path)?)
            .stderr(File::create(&stderr_path)?);
        let spawned_at = Instant::now();
        let child = pin::spawn_on(&mut cmd, cpu)
            .with_context(|| format!("starting {}", cmd.get_program().to_string_lossy()))?;
        Ok(Server {
            pid: child.id(),
            child: Some(child),
            addr,
            spawned_at,
            stderr_path,
        })
    }

    /// Polls `GET /healthz` every 2 ms until a 200; returns the time from spawn to that
    /// answer. Fails, showing the server's stderr, if it exits or `limit` passes.
    pub async fn wait_ready(&mut self, limit: Duration) -> Result<Duration> {
        let reqs = Requests::new(self.addr)?;
        loop {
            if let Ok(mut conn) = Conn::connect(self.addr).await {
                if let Ok((status, _)) = conn.send(reqs.get("/healthz", None)).await {
                    if status.is_success() {
                        return Ok(self.spawned_at.elapsed());
                    }
                }
            }
            if let Some(status) = self.try_exit_status()? {
                bail!(
                    "the server exited ({status}) before answering /healthz; its stderr:\n{}",
                    self.stderr()
                );
            }
            if self.spawned_at.elapsed() > limit {
                bail!(
                    "the server did not answer /healthz within {limit:?}; its stderr:\n{}",
                    self.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    fn try_exit_status(&mut self) -> Result<Option<std::process::ExitStatus>> {
        match self.child.as_mut() {
            Some(c) => Ok(c.try_wait()?),
            None => Err(anyhow!("server already stopped")),
        }
    }

    /// The last 4 KiB of what the server wrote to stderr.
    pub fn stderr(&self) -> String {
        tail(&self.stderr_path, 4096)
    }

    /// SIGTERM, up to 5 s to exit, then SIGKILL. Returns how it ended.
    pub fn stop(&mut self) -> Result<String> {
        let Some(mut child) = self.child.take() else {
            return Ok("already stopped".to_owned());
        };
        if let Some(status) = child.try_wait()? {
            return Ok(format!("had already exited ({status})"));
        }
        if let Some(pid) = i32::try_from(child.id()).ok().and_then(Pid::from_raw) {
            let _ = kill_process(pid, Signal::TERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait()? {
                return Ok(format!("exited on SIGTERM ({status})"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        child.kill()?;
        child.wait()?;
        Ok("killed (SIGTERM ignored for 5 s)".to_owned())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("tessera-loadgen: stopping the server: {e:#}");
        }
    }
}

/// A port the kernel just gave us on 127.0.0.1, released for the server to bind.
pub fn free_loopback_port() -> Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0").context("binding a loopback port")?;
    Ok(l.local_addr()?)
}

fn tail(path: &Path, max: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let start = bytes.len().saturating_sub(max);
            String::from_utf8_lossy(&bytes[start..]).into_owned()
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_port_is_loopback() -> Result<()> {
        let a = free_loopback_port()?;
        assert!(a.ip().is_loopback() && a.port() != 0);
        Ok(())
    }

    /// A stand-in binary that exits at once: the error must carry its stderr.
    #[tokio::test]
    async fn early_exit_reports_stderr() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let launch = Launch {
            binary: "/bin/sh".into(),
            dir: dir.path().to_owned(),
            alg: "ES256".into(),
            extra_env: vec![],
            cpu: None,
        };
        // `sh serve` fails: no such script file; sh says so on stderr.
        let mut server = launch.spawn(0)?;
        let err = server
            .wait_ready(Duration::from_secs(5))
            .await
            .expect_err("sh is no server");
        let msg = format!("{err:#}");
        assert!(msg.contains("exited") && msg.contains("serve"), "{msg}");
        Ok(())
    }

    /// A stand-in that never answers: dropping the guard must end it.
    #[test]
    fn drop_stops_the_child() -> Result<()> {
        let dir = tempfile::tempdir()?;
        fs::write(dir.path().join("serve"), "sleep 30\n")?;
        let launch = Launch {
            binary: "/bin/sh".into(),
            dir: dir.path().to_owned(),
            alg: "ES256".into(),
            extra_env: vec![],
            cpu: None,
        };
        let server = launch.spawn(0)?;
        let pid = server.pid;
        let t = Instant::now();
        drop(server);
        assert!(t.elapsed() < Duration::from_secs(4));
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
        Ok(())
    }
}
