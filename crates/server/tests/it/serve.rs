//! `serve`: zero-config start on an embedded database, the key created on first start and
//! reused after, first answer well under the start-up budget.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tessera_server::{serve, Config};

async fn start_and_wait(config: Config) -> (tokio::task::JoinHandle<()>, Duration, String) {
    let base = format!("http://{}", config.server.bind);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let started = Instant::now();
    let handle = tokio::spawn(async move { serve(config, None).await.unwrap() });
    loop {
        if let Ok(res) = http.get(format!("{base}/healthz")).send().await {
            assert_eq!(res.status(), StatusCode::OK);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = started.elapsed();
    let jwks: Value = http
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = jwks["keys"][0]["kid"].as_str().unwrap().to_owned();
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    (handle, elapsed, kid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_creates_its_database_and_keys_then_restarts_fast_with_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = vec![
        (
            "TESSERA_SERVER__BIND".to_owned(),
            format!("127.0.0.1:{port}"),
        ),
        (
            "TESSERA_DATABASE__URL".to_owned(),
            format!("sqlite://{}", dir.path().join("tessera.db").display()),
        ),
        (
            "TESSERA_KEYS__MASTER_KEY_FILE".to_owned(),
            dir.path().join("tessera.master.key").display().to_string(),
        ),
    ];
    let config = Config::load(None, env).unwrap();

    let (first, _, kid) = start_and_wait(config.clone()).await;
    first.abort();
    let _ = first.await;
    let key_file = dir.path().join("tessera.master.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(dir.path().join("tessera.db").exists());

    let (second, elapsed, kid_again) = start_and_wait(config).await;
    second.abort();
    assert_eq!(kid_again, kid, "the signing key is kept in the database");
    // The budget is 300 ms on a release build; debug builds under a loaded test runner
    // get slack, the measured value is printed.
    eprintln!("restart to first answer: {elapsed:?}");
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
}
