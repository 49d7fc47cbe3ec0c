//! Access tokens: verification without the database, expiry with leeway, introspection
//! and RFC 7009 revocation.

use tessera_tokens::{AccessError, ClientInfo, Introspection};

use crate::Domain;

#[tokio::test]
async fn an_access_token_expires_after_its_lifetime_plus_leeway() {
    let d = Domain::new().await;
    let (user, s) = d.user("alice").await;
    let claims = d.auth.verify_access(&s.access_token).unwrap();
    assert_eq!(claims.exp - claims.iat, 15 * 60);
    assert_eq!(claims.iss, "https://auth.test");
    assert_eq!(claims.aud, "api");
    assert_eq!(claims.user_id(), user);
    assert!(claims.jti.starts_with("at_"));
    // RFC 7519 §4.1.4: valid while now < exp (+ leeway).
    d.clock.advance(15 * 60 + 59);
    assert!(
        d.auth.verify_access(&s.access_token).is_ok(),
        "within leeway"
    );
    d.clock.advance(1);
    assert_eq!(
        d.auth.verify_access(&s.access_token),
        Err(AccessError::Expired)
    );
}

#[tokio::test]
async fn garbage_is_invalid_not_expired() {
    let d = Domain::new().await;
    for junk in ["", "a.b.c", "eyJhbGciOiJub25lIn0.e30."] {
        assert!(
            matches!(d.auth.verify_access(junk), Err(AccessError::Invalid(_))),
            "{junk:?}"
        );
    }
}

#[tokio::test]
async fn introspection_knows_live_tokens_only() {
    let d = Domain::new().await;
    let (user, s) = d.user("alice").await;
    match d.auth.introspect(&s.access_token).await.unwrap() {
        Introspection::Access(c) => assert_eq!(c.sub, user.as_str()),
        other => panic!("{other:?}"),
    }
    let rt = s.refresh_token.expose_secret();
    match d.auth.introspect(rt).await.unwrap() {
        Introspection::Refresh(session) => assert_eq!(session.id, s.session_id.as_str()),
        other => panic!("{other:?}"),
    }
    // Spent (even inside the grace window), then garbage: inactive.
    let next = d.auth.refresh(rt, &ClientInfo::default()).await.unwrap();
    assert_eq!(
        d.auth.introspect(rt).await.unwrap(),
        Introspection::Inactive
    );
    assert_eq!(
        d.auth.introspect("garbage").await.unwrap(),
        Introspection::Inactive
    );
    // RFC 7009 with the access token revokes its session.
    d.auth.revoke_token(&next.access_token).await.unwrap();
    assert_eq!(
        d.auth
            .introspect(next.refresh_token.expose_secret())
            .await
            .unwrap(),
        Introspection::Inactive
    );
}

/// An access token never outlives its session: near the session's absolute expiry, `exp`
/// (and `expires_in`) stop at it.
#[tokio::test]
async fn an_access_token_never_outlives_its_session() {
    let d = crate::Domain::with(tessera_tokens::Settings {
        refresh_ttl: 600,
        idle_timeout: 600,
        ..crate::settings()
    })
    .await;
    let (_, s) = d.user("alice").await;
    assert_eq!(s.expires_in, 600, "15 min asked, 10 min of session left");
    let claims = d.auth.verify_access(&s.access_token).unwrap();
    assert_eq!(claims.exp, crate::T0 + 600);
    d.clock.advance(300);
    let next = d
        .auth
        .refresh(s.refresh_token.expose_secret(), &ClientInfo::default())
        .await
        .unwrap();
    assert_eq!(next.expires_in, 300);
    assert_eq!(
        d.auth.verify_access(&next.access_token).unwrap().exp,
        crate::T0 + 600
    );
}
