//! Sign and verify of a realistic access token (header `{"alg","typ":"at+jwt","kid"}`,
//! claims iss, sub, aud, iat, nbf, exp, jti, sid, scope) for HS256, RS256, ES256 and EdDSA:
//! tessera-jose beside jsonwebtoken (same token, same keys, full claim validation on both
//! sides) and beside the bare aws-lc-rs primitive over the same signing input.
//!
//! Benchmark ids are `{sign,verify}/{alg}/{tessera,jsonwebtoken,aws-lc-bare}`, written by
//! criterion to `target/criterion/{op}/{alg}/{side}/new/estimates.json`;
//! `scripts/bench-table.py` turns them into the comparison table.
//!
//! Both verifiers read the wall clock once per token (jsonwebtoken does it internally;
//! tessera is handed `SystemTime::now()`), so `clock/system-time-now` is measured too, as
//! are two floors of any HS256 verify: `parts/HS256/serde-access-claims` (serde into the
//! claims type) and `parts/HS256/b64-decode-segments` (base64url of the three segments).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

mod common;
use common::{jwt_verify, now, tessera_verify, AccessClaims, Fixture, ALGS};

fn verify(c: &mut Criterion, fixtures: &[Fixture]) {
    let mut g = c.benchmark_group("verify");
    for f in fixtures {
        let alg = f.alg.as_str();
        g.bench_function(BenchmarkId::new(alg, "tessera"), |b| {
            b.iter(|| tessera_verify(f, black_box(&f.token)).is_some())
        });
        g.bench_function(BenchmarkId::new(alg, "jsonwebtoken"), |b| {
            b.iter(|| jwt_verify(f, black_box(&f.token)).is_some())
        });
        g.bench_function(BenchmarkId::new(alg, "aws-lc-bare"), |b| {
            b.iter(|| {
                f.bare_verify
                    .verify(black_box(&f.signing_input), black_box(&f.signature))
            })
        });
    }
    g.finish();
}

fn sign(c: &mut Criterion, fixtures: &[Fixture]) {
    let mut g = c.benchmark_group("sign");
    for f in fixtures {
        let alg = f.alg.as_str();
        g.bench_function(BenchmarkId::new(alg, "tessera"), |b| {
            b.iter(|| f.signer.sign(black_box(&f.claims)).map(|t| t.len()))
        });
        g.bench_function(BenchmarkId::new(alg, "jsonwebtoken"), |b| {
            b.iter(|| {
                jsonwebtoken::encode(&f.jwt_header, black_box(&f.claims), &f.jwt_encoding)
                    .map(|t| t.len())
            })
        });
        g.bench_function(BenchmarkId::new(alg, "aws-lc-bare"), |b| {
            b.iter(|| f.bare_sign.sign(black_box(&f.signing_input)))
        });
    }
    g.finish();
}

/// Floors inside a verify that any JWT library pays: serde into the caller's type, and
/// base64url decoding of the three segments (into stack buffers, no allocation).
fn parts(c: &mut Criterion, fixtures: &[Fixture]) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    let f = &fixtures[0];
    let segments: Vec<&str> = f.token.split('.').collect();
    let payload = URL_SAFE_NO_PAD
        .decode(segments[1])
        .expect("payload is base64url");
    let mut g = c.benchmark_group("parts");
    g.bench_function(
        BenchmarkId::new(f.alg.as_str(), "serde-access-claims"),
        |b| b.iter(|| serde_json::from_slice::<AccessClaims>(black_box(&payload)).is_ok()),
    );
    g.bench_function(
        BenchmarkId::new(f.alg.as_str(), "b64-decode-segments"),
        |b| {
            let mut buf = [0u8; 1024];
            b.iter(|| {
                segments.iter().fold(0, |n, s| {
                    n + URL_SAFE_NO_PAD
                        .decode_slice(black_box(s), &mut buf)
                        .unwrap_or(0)
                })
            })
        },
    );
    g.finish();
}

fn clock(c: &mut Criterion) {
    c.bench_function("clock/system-time-now", |b| b.iter(now));
}

fn benches(c: &mut Criterion) {
    // Keys generated, parsed and cross-checked once, before anything is timed.
    let fixtures: Vec<Fixture> = ALGS.into_iter().map(Fixture::new).collect();
    verify(c, &fixtures);
    sign(c, &fixtures);
    parts(c, &fixtures);
    clock(c);
}

criterion_group! {
    name = jwt;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = benches
}
criterion_main!(jwt);
