//! The metrics' route labels come from the router itself: every route, the page and its
//! assets included, counts under its own path template, never as `unmatched`.

use reqwest::Method;

use crate::common::*;
use crate::openapi::{fetch_document, operations};

#[tokio::test]
async fn every_route_counts_under_its_own_label() {
    let app = TestApp::start().await;
    let (_, doc) = fetch_document(&app).await;
    let ops = operations(&doc);
    for path in ["/", "/assets/app.js", "/assets/app.css", "/openapi.json"] {
        assert!(ops.iter().any(|(_, p)| p == path), "{path} is a route");
    }
    for (method, path) in &ops {
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        app.http
            .request(method, app.url(&path.replace("{id}", "x")))
            .send()
            .await
            .unwrap();
    }
    let m = app.metrics().await;
    for (method, path) in &ops {
        let label = format!(
            "tessera_http_requests_total{{route=\"{path}\",method=\"{}\",",
            method.to_uppercase()
        );
        assert!(m.contains(&label), "missing {label}\n{m}");
        let count = format!("tessera_http_request_duration_seconds_count{{route=\"{path}\"}}");
        assert!(m.contains(&count), "missing {count}\n{m}");
    }
    assert!(!m.contains("route=\"unmatched\""), "{m}");

    // A CORS preflight is answered before the route's handler, and still counts under it.
    app.http
        .request(Method::OPTIONS, app.url("/v1/me"))
        .header("origin", PUBLIC_URL)
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    app.get("/no/such/route").send().await.unwrap();
    let m = app.metrics().await;
    assert!(
        m.contains(
            "tessera_http_requests_total{route=\"/v1/me\",method=\"OPTIONS\",status=\"200\"} 1"
        ),
        "{m}"
    );
    assert!(
        m.contains(
            "tessera_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1"
        ),
        "{m}"
    );
}
