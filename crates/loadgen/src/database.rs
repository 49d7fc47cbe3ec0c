//! The database the servers share (`--database-url`): how the report names it, what the
//! replicas need to share it, and, for PostgreSQL on this machine, what it did for the
//! refresh phase — statements, WAL flushes, round trips of the servers' connections, and
//! what those connections were doing (sampled from `pg_stat_activity`). The queries run
//! through `psql` and the socket counters come from `ss`; without them those figures are
//! left out, with a note.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;

/// Which store the servers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The server's default, `sqlite://tessera.db` in its temporary directory.
    Sqlite,
    Postgres,
}

/// `--database-url`, understood.
#[derive(Debug, Clone)]
pub struct Database {
    pub backend: Backend,
    url: Option<String>,
    /// `host:port/dbname`, without user or password.
    shown: String,
    /// The PostgreSQL database's name (empty for SQLite).
    pub dbname: String,
    port: u16,
    /// The host is this machine, so its processes and sockets can be read.
    pub local: bool,
}

impl Database {
    /// `None` is the server's own SQLite default. PostgreSQL URLs are
    /// `postgres://[user[:password]@]host[:port]/dbname[?params]`.
    pub fn parse(url: Option<&str>) -> Result<Database> {
        let Some(url) = url else {
            return Ok(Database {
                backend: Backend::Sqlite,
                url: None,
                shown: "SQLite (the server's default, in its temporary directory)".to_owned(),
                dbname: String::new(),
                port: 0,
                local: true,
            });
        };
        if url.starts_with("sqlite:") {
            return Ok(Database {
                backend: Backend::Sqlite,
                url: Some(url.to_owned()),
                shown: url.to_owned(),
                dbname: String::new(),
                port: 0,
                local: true,
            });
        }
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or_else(|| anyhow!("--database-url: expected sqlite:… or postgres://…"))?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, port) = match host_port.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') => (
                h,
                p.parse()
                    .map_err(|_| anyhow!("--database-url: bad port `{p}`"))?,
            ),
            _ => (host_port, 5432),
        };
        let dbname = path.split('?').next().unwrap_or("");
        if dbname.is_empty() {
            bail!("--database-url: name the database (postgres://user@host:port/DBNAME)");
        }
        let local = matches!(host, "" | "localhost" | "127.0.0.1" | "[::1]");
        Ok(Database {
            backend: Backend::Postgres,
            url: Some(url.to_owned()),
            shown: format!("PostgreSQL {host}:{port}/{dbname}"),
            dbname: dbname.to_owned(),
            port,
            local,
        })
    }

    pub fn describe(&self) -> &str {
        &self.shown
    }

    /// The servers' environment for this database: its URL, and for PostgreSQL a fresh
    /// `TESSERA_MASTER_KEY` that every replica shares (signing keys in the database are
    /// sealed under it). SQLite keeps the key file of the server's directory, so the default
    /// run still times the first start that creates it.
    pub fn server_env(&self) -> Result<Vec<(String, String)>> {
        let mut env = Vec::new();
        if let Some(url) = &self.url {
            env.push(("TESSERA_DATABASE__URL".to_owned(), url.clone()));
        }
        if self.backend == Backend::Postgres {
            env.push(("TESSERA_MASTER_KEY".to_owned(), random_master_key()?));
        }
        Ok(env)
    }

    /// Runs one query through `psql`, returning its unaligned output.
    fn psql(&self, sql: &str) -> Result<String> {
        let url = self
            .url
            .as_deref()
            .ok_or_else(|| anyhow!("no database URL"))?;
        let out = Command::new("psql")
            .args([
                "-X",
                "-A",
                "-t",
                "-q",
                "-F",
                "|",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .arg(url)
            .stdin(Stdio::null())
            .output()
            .context("running psql")?;
        if !out.status.success() {
            bail!("psql: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// PostgreSQL's counters now (see [`Counters`]).
    pub fn counters(&self) -> Result<Counters> {
        let line = self.psql(
            "SELECT (SELECT xact_commit + xact_rollback FROM pg_stat_database \
                     WHERE datname = current_database()), \
                    wal_records, wal_write, wal_sync, \
                    (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint \
             FROM pg_stat_wal",
        )?;
        let v: Vec<u64> = line
            .trim()
            .split('|')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .with_context(|| format!("psql answered `{}`", line.trim()))?;
        match v[..] {
            [xacts, wal_records, wal_writes, wal_syncs, wal_bytes] => Ok(Counters {
                xacts,
                wal_records,
                wal_writes,
                wal_syncs,
                wal_bytes,
            }),
            _ => bail!("psql answered `{}`", line.trim()),
        }
    }

    /// Data segments the processes `pids` sent to and received from the database port so
    /// far, over their established connections (`ss -tinp`). On loopback with TCP_NODELAY
    /// (sqlx sets it) a segment is one write: a client→server segment is one round trip.
    pub fn segments(&self, pids: &[u32]) -> Result<Segments> {
        let filter = format!("( dport = :{} )", self.port);
        let out = Command::new("ss")
            .args([
                "-t",
                "-i",
                "-n",
                "-p",
                "-H",
                "state",
                "established",
                &filter,
            ])
            .stdin(Stdio::null())
            .output()
            .context("running ss")?;
        if !out.status.success() {
            bail!("ss: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(parse_ss(&String::from_utf8_lossy(&out.stdout), pids))
    }

    /// Starts sampling the servers' connections (`application_name` `tessera`) every
    /// `every`, after `delay`, for `duration`: one `psql` reading `pg_stat_activity`.
    pub fn sample_activity(
        &self,
        dir: &Path,
        delay: Duration,
        duration: Duration,
        every: Duration,
    ) -> Result<ActivitySampler> {
        let url = self
            .url
            .as_deref()
            .ok_or_else(|| anyhow!("no database URL"))?;
        let n = (duration.as_secs_f64() / every.as_secs_f64()).floor() as u64;
        let mut script = format!("SELECT pg_sleep({:.3});\n", delay.as_secs_f64());
        for i in 0..n {
            // A marker row per sample, so samples without any connection count too. No
            // wait event on an active backend means it is running (or runnable).
            script.push_str(&format!(
                "SELECT {i}, '*', '', '', 0 UNION ALL \
                 SELECT {i}, coalesce(state, '?'), coalesce(wait_event_type, 'CPU'), \
                        coalesce(wait_event, '-'), count(*) \
                 FROM pg_stat_activity \
                 WHERE datname = current_database() AND application_name = 'tessera' \
                 GROUP BY 2, 3, 4;\nSELECT pg_sleep({:.3});\n",
                every.as_secs_f64()
            ));
        }
        let script_path = dir.join("activity.sql");
        let out_path = dir.join("activity.out");
        std::fs::write(&script_path, script)?;
        let child = Command::new("psql")
            .args(["-X", "-A", "-t", "-q", "-F", "|", "-f"])
            .arg(&script_path)
            .arg(url)
            .env("PGAPPNAME", "tessera-loadgen")
            .stdin(Stdio::null())
            .stdout(File::create(&out_path)?)
            .stderr(Stdio::null())
            .spawn()
            .context("running psql")?;
        Ok(ActivitySampler {
            child,
            out_path,
            every,
        })
    }
}

/// 32 random bytes from the kernel, base64url without padding (`TESSERA_MASTER_KEY`).
fn random_master_key() -> Result<String> {
    let mut key = [0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut key))
        .context("reading /dev/urandom")?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key))
}

/// Cumulative counters of PostgreSQL: transactions of this database (every statement
/// outside `BEGIN`/`COMMIT` is one), and the cluster's WAL records, writes, flushes
/// (`pg_stat_wal`) and bytes (the WAL position). Backends report their statistics within
/// about a second of going idle, so a reading is exact once the load has stopped for that
/// long.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub xacts: u64,
    pub wal_records: u64,
    pub wal_writes: u64,
    pub wal_syncs: u64,
    pub wal_bytes: u64,
}

impl Counters {
    pub fn since(&self, before: &Counters) -> Counters {
        Counters {
            xacts: self.xacts.saturating_sub(before.xacts),
            wal_records: self.wal_records.saturating_sub(before.wal_records),
            wal_writes: self.wal_writes.saturating_sub(before.wal_writes),
            wal_syncs: self.wal_syncs.saturating_sub(before.wal_syncs),
            wal_bytes: self.wal_bytes.saturating_sub(before.wal_bytes),
        }
    }
}

/// Data segments of some processes' connections to the database, per socket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Segments {
    /// (local address, (to the database, from the database)).
    pub by_socket: BTreeMap<String, (u64, u64)>,
}

impl Segments {
    /// Segments (out, in) since `before`; a socket opened in between counts from zero.
    pub fn since(&self, before: &Segments) -> (u64, u64) {
        self.by_socket.iter().fold((0, 0), |(o, i), (k, (so, si))| {
            let (bo, bi) = before.by_socket.get(k).copied().unwrap_or_default();
            (o + so.saturating_sub(bo), i + si.saturating_sub(bi))
        })
    }
}

/// `ss -tinpH state established`: a line per socket (`Recv-Q Send-Q Local Peer users:…`),
/// then an indented line of TCP info holding `data_segs_out:N data_segs_in:N`.
fn parse_ss(text: &str, pids: &[u32]) -> Segments {
    let mut seg = Segments::default();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if !line.starts_with(char::is_whitespace) {
            let ours = pids.iter().any(|p| line.contains(&format!("pid={p},")));
            current = ours
                .then(|| line.split_ascii_whitespace().nth(2).map(str::to_owned))
                .flatten();
            continue;
        }
        let Some(local) = &current else { continue };
        let field = |name: &str| {
            line.split_ascii_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .and_then(|v| v.parse::<u64>().ok())
        };
        if let (Some(out), Some(inn)) = (field("data_segs_out:"), field("data_segs_in:")) {
            seg.by_socket.insert(local.clone(), (out, inn));
        }
    }
    seg
}

/// A running `pg_stat_activity` sampler.
#[derive(Debug)]
pub struct ActivitySampler {
    child: Child,
    out_path: std::path::PathBuf,
    every: Duration,
}

impl ActivitySampler {
    /// Stops the sampler and sums up what it saw.
    pub fn finish(mut self) -> Result<Activity> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let text = std::fs::read_to_string(&self.out_path)?;
        Ok(Activity::parse(&text, self.every))
    }
}

impl Drop for ActivitySampler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the servers' connections were doing: mean number of connections per
/// (state, wait event) over the samples.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Activity {
    pub samples: u64,
    pub every: Duration,
    /// (`state`, `wait_event_type:wait_event`) → connections summed over the samples.
    pub counts: BTreeMap<(String, String), u64>,
}

impl Activity {
    fn parse(text: &str, every: Duration) -> Activity {
        let mut a = Activity {
            every,
            ..Activity::default()
        };
        for line in text.lines() {
            let f: Vec<&str> = line.split('|').collect();
            let [_, state, kind, event, n] = f[..] else {
                continue;
            };
            if state == "*" {
                a.samples += 1;
                continue;
            }
            let Ok(n) = n.parse::<u64>() else { continue };
            let wait = if kind == "CPU" {
                "CPU".to_owned()
            } else {
                format!("{kind}:{event}")
            };
            *a.counts.entry((state.to_owned(), wait)).or_default() += n;
        }
        a
    }

    /// `16.0 open: active CPU 5.1, active IO:WALSync 3.0, idle Client:ClientRead 7.9`.
    pub fn describe(&self) -> String {
        if self.samples == 0 {
            return "no samples".to_owned();
        }
        let mean = |n: u64| n as f64 / self.samples as f64;
        let total: u64 = self.counts.values().sum();
        let mut parts: Vec<(&(String, String), &u64)> = self.counts.iter().collect();
        parts.sort_by(|a, b| b.1.cmp(a.1));
        format!(
            "{:.1} open: {}",
            mean(total),
            parts
                .iter()
                .map(|((state, wait), n)| format!("{state} {wait} {:.1}", mean(**n)))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    /// Mean connections in state `active`.
    pub fn active(&self) -> f64 {
        let n: u64 = self
            .counts
            .iter()
            .filter(|((s, _), _)| s == "active")
            .map(|(_, n)| n)
            .sum();
        n as f64 / self.samples.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() -> Result<()> {
        let d = Database::parse(Some("postgres://postgres:secret@127.0.0.1:5433/tessera_x"))?;
        assert_eq!(d.backend, Backend::Postgres);
        assert_eq!((d.port, d.local), (5433, true));
        assert_eq!(d.describe(), "PostgreSQL 127.0.0.1:5433/tessera_x");
        assert_eq!(d.dbname, "tessera_x");
        let d = Database::parse(Some("postgresql://db.example/t?sslmode=require"))?;
        assert_eq!((d.port, d.local), (5432, false));
        assert_eq!(d.describe(), "PostgreSQL db.example:5432/t");
        assert!(Database::parse(Some("postgres://127.0.0.1:5432/")).is_err());
        assert!(Database::parse(Some("mysql://x/y")).is_err());
        assert_eq!(Database::parse(None)?.backend, Backend::Sqlite);
        assert_eq!(
            Database::parse(Some("sqlite://x.db"))?.backend,
            Backend::Sqlite
        );
        Ok(())
    }

    #[test]
    fn postgres_env_has_a_fresh_master_key() -> Result<()> {
        let d = Database::parse(Some("postgres://postgres@127.0.0.1/t"))?;
        let env = d.server_env()?;
        let key = env
            .iter()
            .find(|(k, _)| k == "TESSERA_MASTER_KEY")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| anyhow!("no master key"))?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&key)?;
        assert_eq!(bytes.len(), 32);
        assert_ne!(Some(key), d.server_env()?.get(1).map(|(_, v)| v.clone()));
        assert!(Database::parse(None)?.server_env()?.is_empty());
        Ok(())
    }

    #[test]
    fn ss_segments_of_our_processes() {
        let text = "0      0      127.0.0.1:40000 127.0.0.1:5432 users:((\"tessera\",pid=77,fd=12))\n\
                    \t cubic wscale:7,7 rto:204 bytes_sent:9 segs_out:12 data_segs_out:10 data_segs_in:11 send 1bps\n\
                    0      0      127.0.0.1:40002 127.0.0.1:5432 users:((\"pgbench\",pid=99,fd=3))\n\
                    \t cubic data_segs_out:500 data_segs_in:500\n\
                    0      0      127.0.0.1:40004 127.0.0.1:5432 users:((\"tessera\",pid=78,fd=12))\n\
                    \t cubic data_segs_out:5 data_segs_in:6\n";
        let now = parse_ss(text, &[77, 78]);
        assert_eq!(now.by_socket.len(), 2);
        let mut before = Segments::default();
        before
            .by_socket
            .insert("127.0.0.1:40000".to_owned(), (4, 5));
        assert_eq!(now.since(&before), (11, 12));
    }

    #[test]
    fn activity_means() {
        let text = "0|*|||0\n0|active|CPU|-|2\n0|idle|Client|ClientRead|14\n\n\
                    1|*|||0\n1|active|IO|WALSync|4\n1|idle|Client|ClientRead|12\n\n2|*|||0\n";
        let a = Activity::parse(text, Duration::from_millis(50));
        assert_eq!(a.samples, 3);
        assert!((a.active() - 2.0).abs() < 1e-9);
        assert_eq!(
            a.describe(),
            "10.7 open: idle Client:ClientRead 8.7, active IO:WALSync 1.3, active CPU 0.7"
        );
    }
}
