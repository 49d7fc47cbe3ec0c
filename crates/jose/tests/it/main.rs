use tessera_jose::*;

#[test]
fn smoke_all_algorithms() {
    for alg in Algorithm::ALL {
        let key = SigningKey::generate(alg).expect("gen");
        let v = Verifier::new(key.verifying_key().expect("vk"));
        let s = Signer::new(key).with_typ("at+jwt");
        let t = s
            .sign(&serde_json::json!({"sub":"u","exp": 2000}))
            .expect("sign");
        let c = v.verify::<serde_json::Value>(&t, 1000).expect("verify");
        assert_eq!(c.claims()["sub"], "u");
        let jwk = s.key().to_jwk();
        let k2 =
            SigningKey::from_jwk(&Jwk::from_json(&jwk.to_json()).expect("p"), None).expect("rt");
        assert_eq!(k2.thumbprint().unwrap(), s.key().thumbprint().unwrap());
        if alg.family() != Family::Hmac {
            let pem = s.key().to_pem().expect("pem");
            let k3 = SigningKey::from_pem(pem.as_bytes(), alg).expect("pem rt");
            assert_eq!(k3.thumbprint().unwrap(), s.key().thumbprint().unwrap());
            let pubpem = s.key().verifying_key().unwrap().to_pem().expect("spki");
            let vk = VerifyingKey::from_pem(pubpem.as_bytes(), alg).expect("spki rt");
            Verifier::new(vk)
                .verify::<serde_json::Value>(&t, 1000)
                .expect("verify via pem");
        }
        println!("{alg}: {} bytes", t.len());
    }
}
