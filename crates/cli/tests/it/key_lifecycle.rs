//! `tessera keys rotate` and `tessera keys list` against a running `tessera serve`: the
//! server picks up an operator's rotation without a restart, publishes the new key before
//! it signs with it, and a rotation under a wrong master key stores nothing.

use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::serve::Server;
use crate::{now, Dir};

/// How often the server reloads keys (`KEY_MAINTENANCE` in the server), with slack.
const PICKUP: Duration = Duration::from_secs(8);

fn kid_of(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let json = tessera_jose::base64url::decode(header.as_bytes()).unwrap();
    let v: Value = serde_json::from_slice(&json).unwrap();
    v["kid"].as_str().unwrap().to_owned()
}

fn jwks_kids(server: &Server) -> Vec<String> {
    let (_, v) = server.api().get("/.well-known/jwks.json", None);
    v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// `(kid, state)` of each key `tessera keys list` prints.
fn listed(dir: &Dir) -> Vec<(String, String)> {
    dir.run(&["keys", "list"])
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["kid"].as_str().unwrap().to_owned(),
                k["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn operator_rotation_is_published_first_then_signs_without_restart() {
    let _turn = crate::heavy_turn();
    let dir = Dir::new();
    // max-age 0: the pre-publication delay is its floor, two maintenance periods (10 s).
    let server = Server::start_with_env(&dir, &[("TESSERA_KEYS__JWKS_MAX_AGE", "0s")]);
    server.api().signup("ops");
    let old = kid_of(&server.api().login("ops").access);
    assert_eq!(listed(&dir), [(old.clone(), "current".to_owned())]);

    // A master key that is not the server's: refused before anything is stored.
    let wrong = dir.run_env(
        &["keys", "rotate"],
        &[(
            "TESSERA_MASTER_KEY",
            Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        )],
    );
    wrong.fails(2, "invalid_request");
    assert!(wrong.stderr.contains("master"), "{wrong:#?}");
    assert_eq!(listed(&dir).len(), 1);

    // The same configuration as the server's (the delay comes from `keys.jwks_max_age`).
    let rotated_at = now();
    let new = dir
        .run_env(
            &["keys", "rotate"],
            &[("TESSERA_KEYS__JWKS_MAX_AGE", Some("0s"))],
        )
        .json();
    let new_kid = new["kid"].as_str().unwrap().to_owned();
    let activates_at = new["activates_at"].as_u64().unwrap();
    assert_eq!(new["state"], "next");
    assert_eq!(new["alg"], "ES256");
    assert!(
        (rotated_at + 10..=rotated_at + 11).contains(&activates_at),
        "{new}"
    );
    assert_eq!(
        listed(&dir),
        [
            (old.clone(), "current".to_owned()),
            (new_kid.clone(), "next".to_owned())
        ]
    );

    // The running server publishes it within its reload period, still signing with the old key.
    let start = Instant::now();
    while !jwks_kids(&server).contains(&new_kid) {
        assert!(start.elapsed() < PICKUP, "new key not published in time");
        thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(jwks_kids(&server), [old.clone(), new_kid.clone()]);
    assert!(now() < activates_at);
    assert_eq!(kid_of(&server.api().login("ops").access), old);

    // Then signs with it, never before its activation time.
    let deadline = Instant::now() + Duration::from_secs(activates_at - now() + 8);
    loop {
        let kid = kid_of(&server.api().login("ops").access);
        if kid == new_kid {
            assert!(now() >= activates_at, "signed before activation");
            break;
        }
        assert_eq!(kid, old);
        assert!(Instant::now() < deadline, "new key never signed");
        thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(
        listed(&dir),
        [(old, "retired".to_owned()), (new_kid, "current".to_owned())]
    );
}

#[test]
fn rotate_needs_the_existing_master_key() {
    let dir = Dir::new();
    let run = dir.run_env(&["keys", "rotate"], &[("TESSERA_MASTER_KEY", None)]);
    run.fails(2, "invalid_request");
    assert!(run.stderr.contains("no master key"), "{run:#?}");
    assert!(!dir.file("tessera.master.key").exists());
}
