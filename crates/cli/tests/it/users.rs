//! `tessera users add` follows the signup rules: RFC 8265 usernames, one name per person,
//! and the password rules.

use crate::Dir;

fn add(dir: &Dir, name: &str, password: &str) -> crate::Run {
    dir.run_with_stdin(
        &["users", "add", name, "--password-stdin"],
        &format!("{password}\n"),
    )
}

#[test]
fn users_add_refuses_look_alike_names_and_common_passwords() {
    let dir = Dir::new();
    let added = add(&dir, "Ａｌｉｃｅ", "correct horse battery staple").json();
    assert_eq!(added["username"], "Alice", "full-width letters are mapped");

    for name in ["alice", "ＡＬＩＣＥ", "\u{430}lice"] {
        add(&dir, name, "another fine passphrase").fails(1, "username_taken");
    }
    for name in ["ali\u{200B}ce", "\u{202E}ecila"] {
        add(&dir, name, "another fine passphrase").fails(1, "invalid_request");
    }
    for password in ["password123", "QWERTYUIOP", "          "] {
        let run = add(&dir, "bob", password);
        run.fails(1, "weak_password");
        if !password.trim().is_empty() {
            assert!(!run.stderr.contains(password), "{run:#?}");
        }
    }

    let list = dir.run(&["users", "list"]).json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
}
