//! One run of the benchmark: what all its phases share, prepared from the command line
//! before any server starts.

use anyhow::{bail, Context, Result};
use tempfile::TempDir;

use crate::args::{Args, Phases};
use crate::database::{Backend, Database};
use crate::measure::PgProcesses;
use crate::procfs;
use crate::server::Launch;
use crate::workers::Window;

/// The run's settings, its database, and how to start a server.
#[derive(Debug)]
pub struct Bench<'a> {
    pub args: &'a Args,
    pub db: Database,
    /// PostgreSQL's processes, when their CPU can be read on this machine.
    pub pg: Option<PgProcesses>,
    pub launch: Launch,
    /// The servers' directory; removed when the run ends, after its servers have stopped.
    _dir: TempDir,
}

impl<'a> Bench<'a> {
    pub fn prepare(args: &'a Args) -> Result<Bench<'a>> {
        let binary = std::fs::canonicalize(&args.server)
            .with_context(|| format!("--server {}", args.server.display()))?;
        let dir = tempfile::Builder::new()
            .prefix("tessera-loadgen-")
            .tempdir()?;
        if args.phases != Phases::Compare && args.alg().contains(',') {
            bail!("--alg takes one algorithm, except with --phases compare");
        }
        let db = Database::parse(args.database_url.as_deref())?;
        if args.replicas > 1 && (db.backend != Backend::Postgres || args.phases != Phases::Refresh)
        {
            bail!("--replicas above 1 needs --phases refresh and a postgres:// --database-url (the replicas share the database)");
        }
        let postmaster = match (db.backend, args.db_pid) {
            (Backend::Sqlite, _) => None,
            (Backend::Postgres, Some(pid)) => Some(pid),
            (Backend::Postgres, None) if db.local => procfs::find_postmaster(),
            (Backend::Postgres, None) => None,
        };
        let pg = postmaster.map(|postmaster| PgProcesses {
            postmaster,
            dbname: db.dbname.clone(),
        });
        // Ours first: `--server-env` may override them.
        let mut extra_env = db.server_env()?;
        extra_env.extend(args.server_env.iter().cloned());
        let launch = Launch {
            binary,
            dir: dir.path().to_owned(),
            alg: args.alg().to_owned(),
            extra_env,
            cpu: None,
        };
        Ok(Bench {
            args,
            db,
            pg,
            launch,
            _dir: dir,
        })
    }

    /// The time line of a load phase starting now: `--warmup`, then `--duration` measured.
    pub fn window(&self) -> Window {
        Window::starting_now(self.args.warmup, self.args.duration)
    }

    /// The file system of the servers' directory, as the report headers name it.
    pub fn fs_type(&self) -> String {
        procfs::fs_type(&self.launch.dir).unwrap_or_else(|| "file system unknown".to_owned())
    }
}
