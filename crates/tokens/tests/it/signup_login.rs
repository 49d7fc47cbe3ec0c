//! Signup rules (username, password, one account per name) and login answers.

use tessera_tokens::{ClientInfo, LoginError, SignupError, Username, UsernameError, Weakness};

use crate::{password, Domain};

#[tokio::test]
async fn signup_returns_an_opaque_user_id() {
    let d = Domain::new().await;
    let id = d.signup("alice").await;
    assert!(id.as_str().starts_with("usr_"), "{id}");
    let stored = d.store.user_by_id(id.as_str()).await.unwrap().unwrap();
    assert_eq!(stored.username, "alice");
    assert!(
        stored.password_hash.starts_with("$argon2id$"),
        "only a PHC hash is stored"
    );
}

#[tokio::test]
async fn a_name_differing_only_in_case_is_taken() {
    let d = Domain::new().await;
    d.signup("Alice").await;
    let again = d
        .auth
        .signup(
            &Username::parse("aLICE").unwrap(),
            password("another password"),
        )
        .await;
    assert_eq!(again, Err(SignupError::UsernameTaken));
}

#[tokio::test]
async fn passwords_are_checked_before_anything_is_stored() {
    let d = Domain::new().await;
    let name = Username::parse("bob").unwrap();
    assert_eq!(
        d.auth.signup(&name, password("short")).await,
        Err(SignupError::WeakPassword(Weakness::TooShort(8)))
    );
    assert_eq!(
        d.auth.signup(&name, password(&"x".repeat(1025))).await,
        Err(SignupError::PasswordTooLong)
    );
    assert!(d.store.list_users().await.unwrap().is_empty());
    // Length counts characters, not bytes: eight two-byte characters are enough.
    assert!(d.auth.signup(&name, password("éééééééé")).await.is_ok());
}

#[test]
fn username_rules_are_errors_the_client_can_read() {
    assert_eq!(
        SignupError::from(UsernameError::TooLong).to_string(),
        "username is longer than 64 characters"
    );
    assert!(Username::parse("a\u{0}b").is_err());
}

#[tokio::test]
async fn unknown_user_wrong_password_and_unparseable_name_are_one_answer() {
    let d = Domain::new().await;
    d.signup("carol").await;
    for (name, pw) in [
        ("carol", "wrong password"),
        ("nobody", "correct horse"),
        (" carol", "correct horse"),
        ("", "correct horse"),
        ("carol", &*"x".repeat(2000)),
    ] {
        let r = d
            .auth
            .login(name, password(pw), ClientInfo::default())
            .await;
        assert_eq!(
            r.map(|_| ()),
            Err(LoginError::InvalidCredentials),
            "{name:?}"
        );
    }
    assert!(
        d.store
            .list_sessions(None, d.clock_now())
            .await
            .unwrap()
            .is_empty(),
        "failed logins open no session"
    );
}

#[tokio::test]
async fn login_is_case_insensitive_and_opens_a_session_with_client_info() {
    let d = Domain::new().await;
    let id = d.signup("Dave").await;
    let client = ClientInfo {
        user_agent: Some("x".repeat(1000)),
        ip: Some("192.0.2.7".into()),
    };
    let issued = d
        .auth
        .login("dAVE", password("correct horse"), client)
        .await
        .unwrap();
    assert_eq!(issued.user_id, id);
    assert_eq!(issued.expires_in, 15 * 60);
    // The idle timeout (7 d) comes before the absolute expiry (14 d).
    assert_eq!(issued.refresh_expires_in, 7 * 86_400);
    let sessions = d.auth.sessions(&id).await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].id, issued.session_id.as_str());
    assert_eq!(sessions[0].ip.as_deref(), Some("192.0.2.7"));
    assert_eq!(
        sessions[0].user_agent.as_deref().map(str::len),
        Some(256),
        "the stored user agent is bounded"
    );
}

impl Domain {
    pub fn clock_now(&self) -> i64 {
        self.auth.now()
    }
}
