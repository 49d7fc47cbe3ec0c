//! `tessera keys generate|public|thumbprint`.

use crate::{data, Dir};

const ALL_ALGS: [&str; 12] = [
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "ES384", "EdDSA",
];

#[test]
fn generate_makes_a_private_jwk_for_every_algorithm() {
    let dir = Dir::new();
    for alg in ALL_ALGS {
        let jwk = dir.generate("k.jwk", alg, &[]);
        assert_eq!(jwk["alg"], alg);
        assert_eq!(jwk["use"], "sig");
        let private = if alg.starts_with("HS") { "k" } else { "d" };
        assert!(jwk[private].is_string(), "{alg}: {jwk}");
        // The default kid is the RFC 7638 thumbprint.
        let thumbprint = dir.run(&["keys", "thumbprint", "k.jwk"]);
        assert_eq!(jwk["kid"], thumbprint.ok(), "{alg}");
    }
}

#[test]
fn hmac_secrets_have_the_hash_size() {
    let dir = Dir::new();
    for (alg, chars) in [("HS256", 43), ("HS384", 64), ("HS512", 86)] {
        let jwk = dir.generate("k.jwk", alg, &[]);
        assert_eq!(jwk["kty"], "oct");
        assert_eq!(jwk["k"].as_str().unwrap().len(), chars, "{alg}");
    }
}

#[test]
fn generate_takes_a_kid() {
    let dir = Dir::new();
    let jwk = dir.generate("k.jwk", "EdDSA", &["--kid", "2024-key-1"]);
    assert_eq!(jwk["kid"], "2024-key-1");
}

#[test]
fn generated_keys_differ() {
    let dir = Dir::new();
    let a = dir.generate("a.jwk", "ES256", &[]);
    let b = dir.generate("b.jwk", "ES256", &[]);
    assert_ne!(a["d"], b["d"]);
}

#[cfg(unix)]
#[test]
fn out_file_is_private_and_stdout_is_empty() {
    use std::os::unix::fs::PermissionsExt;

    let dir = Dir::new();
    for (name, extra) in [("k.jwk", &[][..]), ("k.pem", &["--pem"][..])] {
        let mut args = vec!["keys", "generate", "--alg", "ES256", "--out", name];
        args.extend_from_slice(extra);
        let run = dir.run(&args);
        assert_eq!(run.ok(), "", "nothing on stdout");
        assert!(run.stderr.contains(name), "{run:#?}");
        let mode = std::fs::metadata(dir.file(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
        if name == "k.jwk" {
            let jwk: serde_json::Value = serde_json::from_str(&dir.read(name)).unwrap();
            let kid = jwk["kid"].as_str().unwrap();
            assert!(
                run.stderr.contains(kid),
                "the kid is told on stderr: {run:#?}"
            );
            assert!(!run.stderr.contains(jwk["d"].as_str().unwrap()));
        }
    }
    assert!(dir
        .read("k.pem")
        .starts_with("-----BEGIN PRIVATE KEY-----\n"));
}

#[test]
fn out_never_overwrites_a_file() {
    let dir = Dir::new();
    dir.write("k.jwk", "precious");
    dir.run(&["keys", "generate", "--alg", "ES256", "--out", "k.jwk"])
        .fails(2, "invalid_request");
    assert_eq!(dir.read("k.jwk"), "precious");
}

#[test]
fn out_into_a_missing_directory_is_a_usage_error() {
    let dir = Dir::new();
    dir.run(&[
        "keys",
        "generate",
        "--alg",
        "ES256",
        "--out",
        "no/such/k.jwk",
    ])
    .fails(2, "invalid_request");
}

#[test]
fn pem_output_is_pkcs8_and_its_curve_names_the_alg() {
    let dir = Dir::new();
    let run = dir.run(&["keys", "generate", "--alg", "ES384", "--pem"]);
    assert!(run.ok().starts_with("-----BEGIN PRIVATE KEY-----"));
    dir.write("k.pem", &run.stdout);

    // P-384 can only be ES384: no --alg needed for the public part.
    let jwk = dir.run(&["keys", "public", "k.pem"]).json();
    assert_eq!(jwk["alg"], "ES384");
    assert_eq!(jwk["crv"], "P-384");
    assert!(jwk.get("kid").is_none(), "a PEM key has no kid: {jwk}");
    assert!(jwk.get("d").is_none(), "{jwk}");
    assert_eq!(
        dir.run(&["keys", "public", "k.pem", "--alg", "ES384"])
            .json(),
        jwk
    );
    // The PEM's thumbprint is the thumbprint of its public JWK.
    dir.write("pub.jwk", jwk.to_string());
    let thumbprint = dir.run(&["keys", "thumbprint", "pub.jwk"]);
    assert_eq!(
        dir.run(&["keys", "thumbprint", "k.pem"]).ok(),
        thumbprint.ok()
    );
    assert_eq!(
        dir.run(&["keys", "thumbprint", "k.pem", "--alg", "ES384"])
            .ok(),
        thumbprint.ok()
    );
}

/// An --alg that contradicts the key's curve is a usage error naming both.
#[test]
fn alg_contradicting_the_curve_names_both() {
    let dir = Dir::new();
    dir.write(
        "k.pem",
        dir.run(&["keys", "generate", "--alg", "ES384", "--pem"])
            .stdout,
    );
    let token = dir.encode(&["--key", "k.pem", "--alg", "ES384", "--exp", "5m"]);
    for args in [
        &["keys", "public", "k.pem", "--alg", "ES256"][..],
        &["keys", "public", "k.pem", "--alg", "ES256", "--pem"],
        &["keys", "thumbprint", "k.pem", "--alg", "ES256"],
        &[
            "token", "verify", &token, "--key", "k.pem", "--alg", "ES256",
        ],
        &[
            "token", "encode", "--key", "k.pem", "--alg", "ES256", "--exp", "5m",
        ],
    ] {
        let run = dir.run(args);
        run.fails(2, "invalid_key");
        for name in ["--alg ES256", "ES384", "P-384"] {
            assert!(run.stderr.contains(name), "{args:?}: {run:#?}");
        }
    }
    // Another family: an RSA algorithm for an Ed25519 key, an EC one for an RSA key.
    let ed = data("openssl-ed25519-public.pem");
    let run = dir.run(&["keys", "public", &ed, "--alg", "RS256"]);
    run.fails(2, "invalid_key");
    assert!(
        run.stderr.contains("RS256") && run.stderr.contains("EdDSA"),
        "{run:#?}"
    );
    let rsa = data("openssl-rsa2048-public.pem");
    let run = dir.run(&["keys", "public", &rsa, "--alg", "ES256"]);
    run.fails(2, "invalid_key");
    assert!(
        run.stderr.contains("ES256") && run.stderr.contains("RSA"),
        "{run:#?}"
    );
}

/// An RSA PEM key fits six algorithms; without --alg its public JWK has no alg.
#[test]
fn rsa_pem_without_alg_gives_a_jwk_without_alg() {
    let dir = Dir::new();
    let private = data("openssl-rsa2048-pkcs1.pem");
    let public = data("openssl-rsa2048-public.pem");
    for file in [&private, &public] {
        let jwk = dir.run(&["keys", "public", file]).json();
        assert_eq!(jwk["kty"], "RSA", "{jwk}");
        assert_eq!(jwk["use"], "sig", "{jwk}");
        assert!(jwk.get("alg").is_none(), "{file}: {jwk}");
        assert!(jwk.get("d").is_none(), "{file}: {jwk}");
        let set = dir.run(&["keys", "public", file, "--jwks"]).json();
        assert_eq!(set["keys"][0], jwk);
        let kid = dir.run(&["keys", "public", file, "--kid", "r1"]).json();
        assert_eq!(kid["kid"], "r1");
        assert!(kid.get("alg").is_none(), "{kid}");
        // The same public key as openssl's.
        let pem = dir.run(&["keys", "public", file, "--pem"]);
        assert_eq!(
            pem.ok(),
            std::fs::read_to_string(&public).unwrap().trim_end()
        );
        // The thumbprint does not depend on an algorithm.
        dir.write("pub.jwk", jwk.to_string());
        assert_eq!(
            dir.run(&["keys", "thumbprint", file]).ok(),
            dir.run(&["keys", "thumbprint", "pub.jwk"]).ok()
        );
        assert_eq!(
            dir.run(&["keys", "thumbprint", file]).ok(),
            dir.run(&["keys", "thumbprint", file, "--alg", "PS384"])
                .ok()
        );
        // With --alg, the JWK carries it.
        let bound = dir.run(&["keys", "public", file, "--alg", "PS256"]).json();
        assert_eq!(bound["alg"], "PS256");
        assert_eq!(bound["n"], jwk["n"]);
    }
}

#[test]
fn pem_is_not_for_hmac_and_carries_no_kid() {
    let dir = Dir::new();
    dir.run(&["keys", "generate", "--alg", "HS256", "--pem"])
        .fails(2, "invalid_request");
    dir.run(&["keys", "generate", "--alg", "ES256", "--pem", "--kid", "k1"])
        .fails(2, "invalid_request");
}

#[test]
fn public_drops_the_private_members() {
    let dir = Dir::new();
    for alg in ["RS256", "ES256", "EdDSA"] {
        let private = dir.generate("k.jwk", alg, &[]);
        let public = dir.run(&["keys", "public", "k.jwk"]).json();
        for member in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(
                public.get(member).is_none(),
                "{alg} leaks {member}: {public}"
            );
        }
        assert_eq!(public["kid"], private["kid"]);
        assert_eq!(public["alg"], alg);
        assert_eq!(public["use"], "sig");
        assert_eq!(public["x"], private["x"]);
        assert_eq!(public["n"], private["n"]);
    }
}

#[test]
fn public_as_jwks_and_as_pem() {
    let dir = Dir::new();
    let private = dir.generate("k.jwk", "ES256", &[]);
    let set = dir.run(&["keys", "public", "k.jwk", "--jwks"]).json();
    let keys = set["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kid"], private["kid"]);
    assert!(keys[0].get("d").is_none());

    let pem = dir.run(&["keys", "public", "k.jwk", "--pem"]);
    assert!(pem.ok().starts_with("-----BEGIN PUBLIC KEY-----"));
    assert!(pem.ok().ends_with("-----END PUBLIC KEY-----"));

    dir.run(&["keys", "public", "k.jwk", "--pem", "--jwks"])
        .fails(2, "invalid_request");
}

#[test]
fn public_sets_a_kid_when_asked() {
    let dir = Dir::new();
    dir.generate("k.jwk", "ES256", &[]);
    let jwk = dir
        .run(&["keys", "public", "k.jwk", "--kid", "mine"])
        .json();
    assert_eq!(jwk["kid"], "mine");
}

#[test]
fn public_reads_standard_input() {
    let dir = Dir::new();
    let private = dir.generate("k.jwk", "EdDSA", &[]);
    let run = dir.run_with_stdin(&["keys", "public", "-"], &dir.read("k.jwk"));
    assert_eq!(run.json()["x"], private["x"]);
}

#[test]
fn public_of_a_symmetric_key_exits_2() {
    let dir = Dir::new();
    for alg in ["HS256", "HS512"] {
        dir.generate("k.jwk", alg, &[]);
        let run = dir.run(&["keys", "public", "k.jwk"]);
        run.fails(2, "invalid_key");
        assert!(!run.stderr.contains("\"k\""), "{run:#?}");
    }
}

#[test]
fn missing_or_broken_key_files_exit_2() {
    let dir = Dir::new();
    dir.run(&["keys", "public", "nope.jwk"])
        .fails(2, "invalid_request");
    dir.run(&["keys", "thumbprint", "nope.jwk"])
        .fails(2, "invalid_request");
    dir.write("bad.jwk", "{not json");
    dir.run(&["keys", "public", "bad.jwk"])
        .fails(2, "invalid_key");
    dir.write("set.json", r#"{"keys":[]}"#);
    let run = dir.run(&["keys", "public", "set.json"]);
    run.fails(2, "invalid_key");
    assert!(run.stderr.contains("JWK Set"), "{run:#?}");
}

/// RFC 7638 §3.1: the example RSA key and its thumbprint.
#[test]
fn thumbprint_matches_rfc7638_example() {
    let dir = Dir::new();
    dir.write(
        "rfc.jwk",
        r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#,
    );
    let run = dir.run(&["keys", "thumbprint", "rfc.jwk"]);
    assert_eq!(run.ok(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    assert_eq!(run.stdout.lines().count(), 1);
}

#[test]
fn thumbprint_of_private_and_public_agree() {
    let dir = Dir::new();
    dir.generate("k.jwk", "ES256", &[]);
    let public = dir.run(&["keys", "public", "k.jwk"]);
    dir.write("pub.jwk", &public.stdout);
    assert_eq!(
        dir.run(&["keys", "thumbprint", "k.jwk"]).ok(),
        dir.run(&["keys", "thumbprint", "pub.jwk"]).ok()
    );
}

/// Keys written by OpenSSL (SEC1 and PKCS#8 private, SPKI public) read the same as ours.
#[test]
fn openssl_pem_keys_are_read() {
    let dir = Dir::new();
    for (private, public, alg) in [
        ("openssl-p256-sec1.pem", "openssl-p256-public.pem", "ES256"),
        (
            "openssl-ed25519-pkcs8.pem",
            "openssl-ed25519-public.pem",
            "EdDSA",
        ),
    ] {
        let (private, public) = (data(private), data(public));
        assert_eq!(
            dir.run(&["keys", "thumbprint", &private, "--alg", alg])
                .ok(),
            dir.run(&["keys", "thumbprint", &public, "--alg", alg]).ok(),
        );
        let spki = dir.run(&["keys", "public", &private, "--alg", alg, "--pem"]);
        assert_eq!(
            spki.ok(),
            std::fs::read_to_string(&public).unwrap().trim_end(),
            "{alg}: same SPKI as openssl pkey -pubout"
        );
        let token = dir.encode(&["--key", &private, "--alg", alg, "--exp", "5m"]);
        dir.verify(&token, &["--key", &public, "--alg", alg]).ok();
    }
}

/// The commands that need only the public part take EC and Ed25519 PEM keys
/// without --alg; the curve names the algorithm.
#[test]
fn openssl_ec_and_ed25519_pem_keys_need_no_alg() {
    let dir = Dir::new();
    for (private, public, alg, crv) in [
        (
            "openssl-p256-sec1.pem",
            "openssl-p256-public.pem",
            "ES256",
            "P-256",
        ),
        (
            "openssl-ed25519-pkcs8.pem",
            "openssl-ed25519-public.pem",
            "EdDSA",
            "Ed25519",
        ),
    ] {
        let (private, public) = (data(private), data(public));
        let from_private = dir.run(&["keys", "public", &private]).json();
        assert_eq!(from_private["alg"], alg);
        assert_eq!(from_private["crv"], crv);
        assert_eq!(dir.run(&["keys", "public", &public]).json(), from_private);
        let set = dir.run(&["keys", "public", &public, "--jwks"]).json();
        assert_eq!(set["keys"][0], from_private);
        let spki = dir.run(&["keys", "public", &private, "--pem"]);
        assert_eq!(
            spki.ok(),
            std::fs::read_to_string(&public).unwrap().trim_end()
        );
        let thumbprint = dir.run(&["keys", "thumbprint", &private, "--alg", alg]);
        assert_eq!(
            dir.run(&["keys", "thumbprint", &private]).ok(),
            thumbprint.ok()
        );
        assert_eq!(
            dir.run(&["keys", "thumbprint", &public]).ok(),
            thumbprint.ok()
        );
        // Signing still names its algorithm.
        let run = dir.run(&["token", "encode", "--key", &private, "--exp", "5m"]);
        run.fails(2, "invalid_key");
        assert!(
            run.stderr.contains("pass --alg") && run.stderr.contains(alg),
            "{run:#?}"
        );
        let token = dir.encode(&["--key", &private, "--alg", alg, "--exp", "5m"]);
        assert!(dir.verify(&token, &["--key", &public]).json()["exp"].is_u64());
        dir.verify(&token, &["--key", &private]).ok();
    }
}
