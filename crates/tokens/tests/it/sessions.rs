//! Logout, session lists and revocation: whose sessions can be revoked, and what a
//! revocation does to the session's tokens.

use tessera_tokens::{
    ClientInfo, RefreshError, Revocation, RevokeReason, SessionError, SessionId, UserId,
};

use crate::{settings, Domain, T0};

#[tokio::test]
async fn logout_revokes_the_session_and_is_idempotent() {
    let d = Domain::new().await;
    let (_, s) = d.user("alice").await;
    let rt = s.refresh_token.expose_secret();
    d.auth.logout(rt).await.unwrap();
    d.auth.logout(rt).await.unwrap();
    d.auth.logout("not a token").await.unwrap();
    assert_eq!(
        d.auth
            .refresh(rt, &ClientInfo::default())
            .await
            .unwrap_err(),
        RefreshError::Revoked
    );
    assert!(d.auth.verify_access(&s.access_token).is_err());
}

#[tokio::test]
async fn a_user_revokes_only_their_own_live_sessions() {
    let d = Domain::new().await;
    let (alice, a1) = d.user("alice").await;
    let a2 = d.login("alice").await;
    let (bob, b1) = d.user("bob").await;
    // Bob cannot revoke (or learn about) Alice's session: the same answer as for no session.
    assert_eq!(
        d.auth.revoke_own_session(&bob, &a1.session_id).await,
        Err(SessionError::NotFound)
    );
    assert_eq!(
        d.auth
            .revoke_own_session(&bob, &SessionId::new("ses_nope"))
            .await,
        Err(SessionError::NotFound)
    );
    d.auth
        .revoke_own_session(&alice, &a1.session_id)
        .await
        .unwrap();
    // Revoking it again: it is no longer live.
    assert_eq!(
        d.auth.revoke_own_session(&alice, &a1.session_id).await,
        Err(SessionError::NotFound)
    );
    let live: Vec<String> = d
        .auth
        .sessions(&alice)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(live, [a2.session_id.as_str()]);
    assert!(d.auth.verify_access(&a1.access_token).is_err());
    assert!(d.auth.verify_access(&a2.access_token).is_ok());
    assert!(d.auth.verify_access(&b1.access_token).is_ok());
}

#[tokio::test]
async fn logout_everywhere_and_admin_revocation_end_every_session_of_one_user() {
    let d = Domain::new().await;
    let (alice, a1) = d.user("alice").await;
    let a2 = d.login("alice").await;
    let (bob, b1) = d.user("bob").await;
    assert_eq!(d.auth.revoke_user(&alice, RevokeReason::User).await, Ok(2));
    for s in [&a1, &a2] {
        assert_eq!(
            d.auth
                .refresh(s.refresh_token.expose_secret(), &ClientInfo::default())
                .await
                .unwrap_err(),
            RefreshError::Revoked
        );
    }
    assert!(d.auth.verify_access(&b1.access_token).is_ok());
    assert_eq!(d.auth.admin_revoke_user(&bob).await, Ok(1));
    assert_eq!(
        d.auth.admin_revoke_user(&UserId::new("usr_unknown")).await,
        Err(SessionError::NotFound)
    );
    let s = d
        .store
        .session(b1.session_id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.revoke_reason, Some(RevokeReason::Admin));
}

#[tokio::test]
async fn revocations_by_another_process_are_seen_after_a_sync() {
    let d = Domain::new().await;
    let (_, s) = d.user("alice").await;
    // Another process (a replica, `tessera sessions revoke`) writes to the same store.
    d.store
        .revoke_session(
            s.session_id.as_str(),
            d.auth.now(),
            RevokeReason::Admin,
            d.auth.now() + 960,
        )
        .await
        .unwrap();
    assert!(
        d.auth.verify_access(&s.access_token).is_ok(),
        "not seen before a sync"
    );
    assert_eq!(d.auth.sync_revocations().await, Ok(1));
    assert!(d.auth.verify_access(&s.access_token).is_err());
}

#[tokio::test]
async fn a_login_over_the_cap_revokes_the_least_recently_used_session() {
    let d = Domain::with(tessera_tokens::Settings {
        max_sessions_per_user: 3,
        ..settings()
    })
    .await;
    let (alice, l1) = d.user("alice").await;
    let (_, b1) = d.user("bob").await;
    d.clock.advance(1);
    let l2 = d.login("alice").await;
    d.clock.advance(1);
    let l3 = d.login("alice").await;
    // l1 is used again: l2 is now the least recently used.
    d.clock.advance(1);
    let l1 = d
        .auth
        .refresh(l1.refresh_token.expose_secret(), &ClientInfo::default())
        .await
        .unwrap();
    d.clock.advance(1);
    let l4 = d.login("alice").await;

    let mut live: Vec<String> = d
        .auth
        .sessions(&alice)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    live.sort();
    let mut expected = [&l1, &l3, &l4].map(|s| s.session_id.as_str().to_owned());
    expected.sort();
    assert_eq!(live, expected);
    let evicted = d
        .store
        .session(l2.session_id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(evicted.revoke_reason, Some(RevokeReason::Evicted));
    // Like a logout: the refresh token is dead, the access token refused at once.
    assert_eq!(
        d.auth
            .refresh(l2.refresh_token.expose_secret(), &ClientInfo::default())
            .await
            .unwrap_err(),
        RefreshError::Revoked
    );
    assert!(d.auth.verify_access(&l2.access_token).is_err());
    for kept in [&l1, &l3, &l4, &b1] {
        assert!(d.auth.verify_access(&kept.access_token).is_ok());
    }
    let now = T0 + 4;
    let feed = d.store.revocation_feed(None, now).await.unwrap();
    assert_eq!(
        feed.revocations,
        [Revocation {
            session_id: l2.session_id.as_str().to_owned(),
            revoked_at: now,
            until: now + d.auth.settings().revocation_lifetime(),
        }]
    );
}
