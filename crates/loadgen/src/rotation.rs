//! The refresh phase: one worker per session rotating its own refresh token, always
//! presenting the newest (`workers::refresh_loop`), and what the rotations came to.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Result;

use crate::measure::{load, merged, Targets};
use crate::report::{Report, Row};
use crate::sessions::{Credentials, Session};
use crate::workers::{self, Window};

/// What the refresh phase found.
#[derive(Debug)]
pub struct Rotation {
    /// The measured window's figures.
    pub row: Row,
    /// Successful rotations over the whole phase, warm-up and stragglers included.
    pub rotations: u64,
    /// Sessions that died with a 401 and logged in again.
    pub relogins: u64,
    /// Answers that mention "locked" (SQLite's `database is locked`), a few per worker.
    pub locked: Vec<String>,
    /// The sessions as they stand after the phase, in the order they came in.
    pub sessions: Vec<Session>,
}

/// Runs the refresh phase over `win`, each session's worker on the server it logged in on.
pub async fn rotate(
    targets: &Targets,
    win: Window,
    sessions: Vec<(SocketAddr, Session)>,
    creds: &Arc<Credentials>,
    name: String,
) -> Result<Rotation> {
    let conns = sessions.len();
    let (outcomes, usage) = load(
        targets,
        win,
        sessions
            .into_iter()
            .map(|(addr, s)| workers::refresh_loop(addr, s, creds.clone(), win))
            .collect(),
    )
    .await?;
    let rotations = outcomes.iter().map(|o| o.rotations).sum();
    let relogins = outcomes.iter().map(|o| o.relogins).sum();
    let locked = outcomes
        .iter()
        .flat_map(|o| o.locked_bodies.iter().cloned())
        .collect();
    let mut records = Vec::with_capacity(conns);
    let mut sessions = Vec::with_capacity(conns);
    for o in outcomes {
        records.push(o.record);
        sessions.push(o.session);
    }
    Ok(Rotation {
        row: Row::new(name, conns, &merged(records), &usage),
        rotations,
        relogins,
        locked,
        sessions,
    })
}

impl Rotation {
    /// Every rotation answered 200, no session lost, no "database is locked".
    pub fn clean(&self) -> bool {
        self.row.clean && self.relogins == 0 && self.locked.is_empty()
    }

    /// Notes on sessions lost to a 401 and on "locked" answers, when there were any.
    pub fn notes(&self, report: &mut Report) {
        if self.relogins > 0 {
            report.notes.push(format!(
                "refresh: {} sessions died with a 401 and had to log in again",
                self.relogins
            ));
        }
        for body in &self.locked {
            report
                .notes
                .push(format!("refresh answer mentioning \"locked\": {body}"));
        }
    }
}
