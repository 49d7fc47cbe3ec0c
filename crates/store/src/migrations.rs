//! Versioned schema migrations, one list per backend.
//!
//! Each backend keeps its SQL under `migrations/<backend>/NNNN_name.sql`, embedded in the
//! binary (version N means the same schema change on every backend), and a small runner of
//! its own that records every applied version in
//! `schema_migrations(version, applied_at)`. A migration is applied in one transaction
//! together with its `schema_migrations` row, so a crash leaves it either applied and
//! recorded or not applied at all, and a restart (or a second process starting at the same
//! time) applies only what is missing. Applied migrations are never edited: a schema change
//! is a new file.

/// One embedded migration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Migration {
    /// Its number: strictly increasing, never reused.
    pub version: i64,
    /// Its name, for logs.
    pub name: &'static str,
    /// The SQL script (several statements).
    pub sql: &'static str,
}

/// The SQLite migrations, oldest first.
pub(crate) const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/sqlite/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "revocations",
        sql: include_str!("../migrations/sqlite/0002_revocations.sql"),
    },
    Migration {
        version: 3,
        name: "username_skeleton",
        sql: include_str!("../migrations/sqlite/0003_username_skeleton.sql"),
    },
];

/// The PostgreSQL migrations, oldest first: the same versions as [`SQLITE`], each with the
/// same meaning.
pub(crate) const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/postgres/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "revocations",
        sql: include_str!("../migrations/postgres/0002_revocations.sql"),
    },
    Migration {
        version: 3,
        name: "username_skeleton",
        sql: include_str!("../migrations/postgres/0003_username_skeleton.sql"),
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_start_at_one_and_increase_by_one() {
        for list in [SQLITE, POSTGRES] {
            for (i, m) in list.iter().enumerate() {
                assert_eq!(m.version, i as i64 + 1, "migration {}", m.name);
                assert!(!m.sql.trim().is_empty(), "migration {} is empty", m.name);
            }
        }
    }

    /// Both backends are at the same schema version, migration for migration.
    #[test]
    fn backends_have_the_same_versions() {
        let versions = |l: &[Migration]| l.iter().map(|m| (m.version, m.name)).collect::<Vec<_>>();
        assert_eq!(versions(SQLITE), versions(POSTGRES));
    }
}
