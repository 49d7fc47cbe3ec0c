//! Many tabs refreshing one token at once (docs/http-api.md): without a grace window exactly one
//! wins; with one, all converge on the same successor.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::json;
use tokio::sync::Barrier;

use crate::common::*;

const TASKS: usize = 32;

async fn race(app: &TestApp, refresh: &str) -> Vec<(StatusCode, serde_json::Value)> {
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..TASKS {
        let (http, url, barrier, token) = (
            app.http.clone(),
            app.url("/v1/token/refresh"),
            Arc::clone(&barrier),
            refresh.to_owned(),
        );
        set.spawn(async move {
            barrier.wait().await;
            let res = http
                .post(url)
                .json(&json!({"refresh_token": token}))
                .send()
                .await
                .unwrap();
            (res.status(), res.json().await.unwrap())
        });
    }
    set.join_all().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_grace_exactly_one_concurrent_refresh_succeeds() {
    let app = TestApp::setup()
        .env("TESSERA_TOKENS__REUSE_GRACE", "0s")
        .start()
        .await;
    let (_, t) = app.user("alice").await;
    let results = race(&app, &t.refresh).await;
    let ok = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(ok, 1, "{results:?}");
    for (s, body) in &results {
        if *s != StatusCode::OK {
            assert_eq!(*s, StatusCode::UNAUTHORIZED);
            assert!(
                body["error"] == "refresh_token_reused" || body["error"] == "refresh_token_revoked",
                "{body}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_grace_every_concurrent_refresh_gets_the_same_successor() {
    let app = TestApp::start().await;
    let (_, t) = app.user("alice").await;
    let results = race(&app, &t.refresh).await;
    let successors: std::collections::HashSet<&str> = results
        .iter()
        .map(|(s, body)| {
            assert_eq!(*s, StatusCode::OK, "{body}");
            body["refresh_token"].as_str().unwrap()
        })
        .collect();
    assert_eq!(successors.len(), 1, "{successors:?}");
    let successor = successors.into_iter().next().unwrap().to_owned();
    assert_eq!(app.refresh_body(&successor).await.status(), StatusCode::OK);
}
