//! One name per person (RFC 8265 usernames, UTS #39 skeletons) and the NIST SP 800-63B
//! password rules, without HTTP.

use tessera_tokens::{
    normalize_usernames, ClientInfo, LoginError, NormalizeReport, SignupError, UserRecord,
    Username, UsernameError, Weakness,
};

use crate::{password, Domain};

/// Names that look like `alice` to a person: each is refused, as taken or as invalid.
#[tokio::test]
async fn look_alike_names_cannot_sign_up_next_to_alice() {
    let d = Domain::new().await;
    d.signup("alice").await;
    for (name, expected) in [
        ("ALICE", Err(SignupError::UsernameTaken)),
        ("ａｌｉｃｅ", Err(SignupError::UsernameTaken)),
        ("ＡＬＩＣＥ", Err(SignupError::UsernameTaken)),
        ("\u{430}lice", Err(SignupError::UsernameTaken)),
        ("al\u{131}ce", Err(SignupError::UsernameTaken)),
        ("a1ice", Err(SignupError::UsernameTaken)),
        (
            "ali\u{200B}ce",
            Err(SignupError::InvalidUsername(UsernameError::Invisible)),
        ),
        (
            "ali\u{2060}ce",
            Err(SignupError::InvalidUsername(UsernameError::Invisible)),
        ),
        (
            "\u{202E}ecila",
            Err(SignupError::InvalidUsername(UsernameError::Bidi)),
        ),
        (
            "alice\u{2066}",
            Err(SignupError::InvalidUsername(UsernameError::Bidi)),
        ),
    ] {
        let got = match Username::parse(name) {
            Ok(u) => d
                .auth
                .signup(&u, password("another password"))
                .await
                .map(|_| ()),
            Err(e) => Err(SignupError::from(e)),
        };
        assert_eq!(got, expected, "{name:?}");
    }
    assert_eq!(d.store.list_users().await.unwrap().len(), 1);
}

#[tokio::test]
async fn login_with_a_width_or_case_variant_finds_the_account() {
    let d = Domain::new().await;
    let id = d.signup("Alice").await;
    for name in ["alice", "ALICE", "ａｌｉｃｅ", "Ａｌｉｃｅ"] {
        assert_eq!(d.login(name).await.user_id, id, "{name:?}");
    }
    // A look-alike is another name: no account.
    let r = d
        .auth
        .login(
            "\u{430}lice",
            password("correct horse"),
            ClientInfo::default(),
        )
        .await;
    assert_eq!(r.map(|_| ()), Err(LoginError::InvalidCredentials));
}

#[tokio::test]
async fn the_display_name_keeps_case_and_maps_width() {
    let d = Domain::new().await;
    let id = d.signup("ＡＬＩＣＥ Smith").await;
    let stored = d.store.user_by_id(id.as_str()).await.unwrap().unwrap();
    assert_eq!(stored.username, "ALICE Smith");
    assert_eq!(stored.username_key, "alice smith");
    assert_eq!(stored.username_skeleton.as_deref(), Some("alice srnith"));
}

/// Accounts from before the rules that could not be normalized keep logging in by their
/// old key (the name lowercased), and nobody else answers to it.
#[tokio::test]
async fn accounts_kept_from_before_the_rules_still_log_in() {
    let d = Domain::new().await;
    let template = d.signup("template").await;
    let hash = d
        .store
        .user_by_id(template.as_str())
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    let legacy = |id: &str, name: &str, at: i64| UserRecord {
        id: id.to_owned(),
        username: name.to_owned(),
        username_key: name.to_lowercase(),
        username_skeleton: None,
        password_hash: hash.clone(),
        created_at: at,
    };
    let alice = legacy("u-alice", "Alice", 1);
    let look_alike = legacy("u-cyrillic", "\u{430}lice", 2);
    let width = legacy("u-width", "ＢＯＢ", 3);
    // Its old key is what the full-width name now normalizes to.
    let twin = legacy("u-bob", "Bob", 4);
    let invisible = legacy("u-invisible", "zero\u{200B}width", 5);
    for u in [&alice, &look_alike, &width, &twin, &invisible] {
        d.store.create_user(u).await.unwrap();
    }
    assert_eq!(
        normalize_usernames(&*d.store).await.unwrap(),
        NormalizeReport {
            normalized: 2,
            kept: 3
        }
    );

    for (name, id) in [
        ("ALICE", "u-alice"),
        ("\u{430}lice", "u-cyrillic"),
        // The two that now normalize alike: each keeps its own way in.
        ("bob", "u-bob"),
        ("BOB", "u-bob"),
        ("ＢＯＢ", "u-width"),
        ("Zero\u{200B}Width", "u-invisible"),
    ] {
        assert_eq!(d.login(name).await.user_id.as_str(), id, "{name:?}");
    }
    // A new look-alike collides with Alice's skeleton.
    let again = d
        .auth
        .signup(
            &Username::parse("\u{430}lice").unwrap(),
            password("another password"),
        )
        .await;
    assert_eq!(again, Err(SignupError::UsernameTaken));
}

#[tokio::test]
async fn common_and_breached_passwords_are_weak() {
    let d = Domain::new().await;
    let name = Username::parse("erin").unwrap();
    for pw in ["password123", "qwertyuiop", "PassWord123", "iloveyou1"] {
        assert_eq!(
            d.auth.signup(&name, password(pw)).await,
            Err(SignupError::WeakPassword(Weakness::Common)),
            "{pw}"
        );
    }
    for pw in ["        ", " \t\n  \u{3000} \u{A0}  "] {
        assert_eq!(
            d.auth.signup(&name, password(pw)).await,
            Err(SignupError::WeakPassword(Weakness::Blank)),
            "{pw:?}"
        );
    }
    assert!(d.store.list_users().await.unwrap().is_empty());
    let why = SignupError::WeakPassword(Weakness::Common).to_string();
    assert!(why.contains("common"), "{why}");
}

#[tokio::test]
async fn long_passphrases_without_composition_rules_are_accepted() {
    let d = Domain::new().await;
    // 1024 bytes, lower-case letters and spaces only: no digit, no symbol, no capital.
    let phrase = "correct horse battery staple ".repeat(36);
    let phrase = &phrase[..1024];
    let name = Username::parse("frank").unwrap();
    let id = d.auth.signup(&name, password(phrase)).await.unwrap();
    let issued = d
        .auth
        .login("frank", password(phrase), ClientInfo::default())
        .await
        .unwrap();
    assert_eq!(issued.user_id, id);
    let name = Username::parse("grace").unwrap();
    assert_eq!(
        d.auth.signup(&name, password(&format!("{phrase}x"))).await,
        Err(SignupError::PasswordTooLong)
    );
}
