//! One name per person over HTTP: RFC 8265 usernames and confusable skeletons
//! (docs/http-api.md, "Usernames"), and the NIST SP 800-63B password rules ("Passwords").

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::*;

async fn signup_as(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    app.post_json(
        "/v1/users",
        json!({"username": username, "password": password}),
    )
    .send()
    .await
    .unwrap()
}

/// The spoofing attack: a second account whose name looks like `alice` on screen.
#[tokio::test]
async fn look_alike_usernames_cannot_create_a_second_account() {
    let app = TestApp::start().await;
    app.signup("alice").await;
    for name in [
        "ALICE",
        "ａｌｉｃｅ",
        "Ａｌｉｃｅ",
        "\u{430}lice", // Cyrillic а
        "\u{430}l\u{456}c\u{435}",
        "a1ice",
    ] {
        let res = signup_as(&app, name, PASSWORD).await;
        assert_error(res, StatusCode::CONFLICT, "username_taken").await;
    }
    for (name, why) in [
        ("ali\u{200B}ce", "invisible"),
        ("alice\u{2060}", "invisible"),
        ("\u{FEFF}alice", "invisible"),
        ("\u{202E}ecila", "bidirectional"),
        ("alice\u{202D}", "bidirectional"),
        ("\u{2067}alice\u{2069}", "bidirectional"),
        ("alice\u{200F}", "bidirectional"),
        ("ali\u{7}ce", "control"),
    ] {
        let res = signup_as(&app, name, PASSWORD).await;
        let (_, body) = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
        let text = body["error_description"].as_str().unwrap();
        assert!(text.contains(why), "{name:?}: {text}");
        assert!(!text.contains("ali"), "the name is not echoed: {text}");
    }
}

#[tokio::test]
async fn login_with_a_width_or_case_variant_is_the_same_account() {
    let app = TestApp::start().await;
    let id = app.signup("Alice").await;
    for name in ["alice", "ALICE", "ａｌｉｃｅ", "ＡＬＩＣＥ"] {
        let t = app.login(name).await;
        let me: Value = app.me(&t.access).await.json().await.unwrap();
        assert_eq!(me["sub"], id, "{name:?}");
    }
    let res = app.login_as("\u{430}lice", PASSWORD).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let res = app.login_as("ali\u{200B}ce", PASSWORD).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

#[tokio::test]
async fn common_and_breached_passwords_are_weak_password() {
    let app = TestApp::start().await;
    for pw in ["password123", "qwertyuiop", "Password123", "1qaz2wsx3edc"] {
        let res = signup_as(&app, "bob", pw).await;
        let (_, body) = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
        let text = body["error_description"].as_str().unwrap();
        assert!(text.contains("common"), "{text}");
        assert!(!text.to_lowercase().contains(&pw.to_lowercase()), "{text}");
    }
}

#[tokio::test]
async fn an_all_white_space_password_is_weak_password() {
    let app = TestApp::start().await;
    for pw in [
        "            ",
        "\t\t\t\t\n\n\n\n",
        "\u{3000}\u{3000}\u{3000}\u{3000}  \u{A0}\u{A0}",
    ] {
        let res = signup_as(&app, "bob", pw).await;
        let (_, body) = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("white space"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_long_passphrase_is_accepted_and_logs_in() {
    let app = TestApp::start().await;
    let phrase = "the quick brown fox naps under a warm lamp ".repeat(20);
    let phrase = phrase[..800].to_owned();
    let res = signup_as(&app, "carol", &phrase).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app.login_as("carol", &phrase).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = signup_as(&app, "dave", &"long passphrase ".repeat(65)).await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
}

/// Width and case variants of one name are one name for the failed-login limit too: a
/// guesser cannot get a fresh budget by writing `alice` as `ａｌｉｃｅ`.
#[tokio::test]
async fn width_variants_share_the_failed_login_budget() {
    let app = TestApp::setup()
        .env("TESSERA_RATE_LIMIT__LOGIN_PER_MINUTE", "3")
        .start()
        .await;
    app.signup("alice").await;
    for name in ["alice", "ＡＬＩＣＥ", "ａｌｉｃｅ"] {
        let res = app.login_as(name, "wrong password").await;
        assert_error(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    let res = app.login_as("Ａｌｉｃｅ", "wrong password").await;
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}
