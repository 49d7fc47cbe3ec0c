//! Refresh rotation (rotation, the grace window, reuse detection, expiry; docs/http-api.md).

use tessera_tokens::{ClientInfo, RefreshError, RevokeReason};

use crate::{settings, Domain};

#[tokio::test]
async fn a_refresh_rotates_and_the_old_token_is_spent() {
    let d = Domain::new().await;
    let (user, first) = d.user("alice").await;
    let second = d
        .auth
        .refresh(first.refresh_token.expose_secret(), &ClientInfo::default())
        .await
        .unwrap();
    assert_ne!(
        second.refresh_token.expose_secret(),
        first.refresh_token.expose_secret()
    );
    assert_eq!(second.session_id, first.session_id, "same session");
    assert_eq!(second.user_id, user);
    let claims = d.auth.verify_access(&second.access_token).unwrap();
    assert_eq!(claims.sid, first.session_id.as_str());
    assert_eq!(claims.sub, user.as_str());
}

#[tokio::test]
async fn inside_the_grace_window_the_spent_token_gets_the_same_successor() {
    let d = Domain::new().await;
    let (_, first) = d.user("alice").await;
    let old = first.refresh_token.expose_secret();
    let a = d.auth.refresh(old, &ClientInfo::default()).await.unwrap();
    d.clock.advance(9);
    let b = d.auth.refresh(old, &ClientInfo::default()).await.unwrap();
    assert_eq!(
        a.refresh_token.expose_secret(),
        b.refresh_token.expose_secret()
    );
    // The successor is live: it rotates normally.
    assert!(d
        .auth
        .refresh(b.refresh_token.expose_secret(), &ClientInfo::default())
        .await
        .is_ok());
}

#[tokio::test]
async fn after_the_grace_window_a_spent_token_revokes_the_whole_family() {
    let d = Domain::new().await;
    let (_, first) = d.user("alice").await;
    let old = first.refresh_token.expose_secret();
    let next = d.auth.refresh(old, &ClientInfo::default()).await.unwrap();
    d.clock.advance(10);
    assert_eq!(
        d.auth
            .refresh(old, &ClientInfo::default())
            .await
            .unwrap_err(),
        RefreshError::Reused
    );
    // The thief's (or the owner's) successor dies with the family ...
    assert_eq!(
        d.auth
            .refresh(next.refresh_token.expose_secret(), &ClientInfo::default())
            .await
            .unwrap_err(),
        RefreshError::Revoked
    );
    // ... and so do its access tokens, at once in this process.
    assert!(d.auth.verify_access(&next.access_token).is_err());
    let s = d
        .store
        .session(first.session_id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.revoke_reason, Some(RevokeReason::Reuse));
}

#[tokio::test]
async fn with_the_grace_window_off_any_second_use_is_reuse() {
    let d = Domain::with(tessera_tokens::Settings {
        reuse_grace: 0,
        ..settings()
    })
    .await;
    let (_, first) = d.user("alice").await;
    let old = first.refresh_token.expose_secret();
    d.auth.refresh(old, &ClientInfo::default()).await.unwrap();
    assert_eq!(
        d.auth
            .refresh(old, &ClientInfo::default())
            .await
            .unwrap_err(),
        RefreshError::Reused
    );
}

#[tokio::test]
async fn an_idle_session_expires_and_use_slides_the_idle_expiry() {
    let d = Domain::new().await;
    let (_, first) = d.user("alice").await;
    // Used every 6 days: the 7-day idle timeout never hits.
    let mut token = first.refresh_token;
    for _ in 0..2 {
        d.clock.advance(6 * 86_400);
        token = d
            .auth
            .refresh(token.expose_secret(), &ClientInfo::default())
            .await
            .unwrap()
            .refresh_token;
    }
    d.clock.advance(7 * 86_400);
    assert_eq!(
        d.auth
            .refresh(token.expose_secret(), &ClientInfo::default())
            .await
            .unwrap_err(),
        RefreshError::Expired
    );
}

#[tokio::test]
async fn the_absolute_lifetime_is_never_extended() {
    let d = Domain::new().await;
    let (_, first) = d.user("alice").await;
    let mut token = first.refresh_token;
    // Refreshing every 5 days keeps the session active until day 14, not beyond.
    for day in [5, 10] {
        d.clock.advance(5 * 86_400);
        let issued = d
            .auth
            .refresh(token.expose_secret(), &ClientInfo::default())
            .await
            .unwrap();
        assert_eq!(
            issued.refresh_expires_in,
            (14 - day).min(7) * 86_400,
            "the earlier of the sliding idle expiry and the fixed absolute one"
        );
        token = issued.refresh_token;
    }
    d.clock.advance(4 * 86_400);
    assert_eq!(
        d.auth
            .refresh(token.expose_secret(), &ClientInfo::default())
            .await
            .unwrap_err(),
        RefreshError::Expired
    );
}

#[tokio::test]
async fn unknown_and_malformed_tokens_are_unknown() {
    let d = Domain::new().await;
    d.user("alice").await;
    for junk in ["", "abc", &"A".repeat(43), &"!".repeat(43), "a.b.c"] {
        assert_eq!(
            d.auth
                .refresh(junk, &ClientInfo::default())
                .await
                .unwrap_err(),
            RefreshError::Unknown,
            "{junk:?}"
        );
    }
}
