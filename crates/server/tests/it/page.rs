//! The browser page at `/` (issue 5): HTML with a strict CSP, and its assets embedded in
//! the binary with the right content types. The page's behaviour is tested in a real
//! browser by `e2e/` at the repository root.

use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use reqwest::StatusCode;

use crate::common::*;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
    form-action 'self'";

#[tokio::test]
async fn the_page_is_html_under_a_strict_content_security_policy() {
    let app = TestApp::start().await;
    let res = app.get("/").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers().clone();
    assert_eq!(h[CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(h["content-security-policy"], CSP);
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h[CACHE_CONTROL], "no-cache");
    let html = res.text().await.unwrap();
    assert!(html.starts_with("<!doctype html>"), "{html}");
    for needle in [
        r#"<script type="module" src="/assets/app.js"></script>"#,
        r#"<link rel="stylesheet" href="/assets/app.css">"#,
        r#"<label for="username">Username</label>"#,
        r#"<label for="password">Password</label>"#,
        ">Sign up</button>",
        ">Log in</button>",
        ">Call /v1/me</button>",
        ">Log out</button>",
        ">Log out everywhere</button>",
    ] {
        assert!(html.contains(needle), "missing {needle}");
    }
    // The CSP allows no inline code: every script and style comes from a file.
    assert!(!html.contains("<script>") && !html.contains("<style"));
    assert!(!html.contains(" style=") && !html.contains(" onclick="));
}

#[tokio::test]
async fn assets_have_their_content_types_and_revalidate() {
    let app = TestApp::start().await;
    for (path, content_type, needle) in [
        (
            "/assets/app.js",
            "text/javascript; charset=utf-8",
            "tessera-refresh",
        ),
        ("/assets/app.css", "text/css; charset=utf-8", ".token-grid"),
    ] {
        let res = app.get(path).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let h = res.headers().clone();
        assert_eq!(h[CONTENT_TYPE], content_type, "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h[CACHE_CONTROL], "no-cache", "{path}");
        assert!(res.text().await.unwrap().contains(needle), "{path}");

        // A revalidation with the ETag costs no body.
        let etag = h[ETAG].to_str().unwrap().to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
        let res = app
            .get(path)
            .header(IF_NONE_MATCH, &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert_eq!(res.headers()[ETAG], etag.as_str());
        assert!(res.bytes().await.unwrap().is_empty());
        let res = app
            .get(path)
            .header(IF_NONE_MATCH, "\"something-else\"")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }
    // HEAD works like GET, and anything else under /assets is the JSON 404.
    let res = app.http.head(app.url("/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.get("/assets/other.js").send().await.unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

/// The page never writes a token where it would outlive the tab or leak.
#[tokio::test]
async fn the_script_keeps_tokens_out_of_storage_and_html() {
    let app = TestApp::start().await;
    let js = app
        .get("/assets/app.js")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for forbidden in [
        "localStorage",
        "sessionStorage",
        "document.cookie",
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "eval(",
    ] {
        assert!(!js.contains(forbidden), "app.js uses {forbidden}");
    }
    assert!(js.contains("credentials: 'same-origin'"));
}
