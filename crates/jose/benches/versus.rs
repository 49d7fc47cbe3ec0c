//! Verify, tessera-jose against jsonwebtoken and the bare aws-lc-rs primitive, measured so
//! that the machine's speed cancels out of the ratios.
//!
//! Criterion (`--bench jwt`) measures the three sides one after another, seconds apart; on a
//! shared machine whose speed drifts, the ratio then follows the drift. Here:
//!
//! - **Interleaved wall clock** (default): rounds of one short batch per side, the order
//!   rotating each round, so all three sides see the same moment of the machine. The ratio is
//!   taken within each round and the median over rounds is reported with its range.
//! - **Instruction counts** (`--instructions`): the bench re-runs itself under Valgrind's
//!   callgrind, which counts the instructions each side executes (not disturbed by other
//!   load at all), `K` verifies per `#[inline(never)]` window, each window warmed up first.
//!   Valgrind hides the CPU's SHA extensions, so HMAC runs aws-lc's AVX code there and
//!   costs several times the instructions it does natively: the HS256 ratio to jsonwebtoken
//!   is compressed, while the work around the primitive (`− bare`) is exact. Instructions
//!   are not time either (a load stalled on the store buffer is one instruction), so the
//!   bars are judged on the wall clock.
//!
//! Bars (issue 12): HS256 verify at least 2× jsonwebtoken's speed; RS256, ES256 and EdDSA
//! at most 1.10× the bare primitive. Exit status 1 when a bar is missed with `--check`.
//!
//! `cargo bench -p tessera-jose --bench versus [-- [--instructions] [--check] [ALG...]]`

use std::hint::black_box;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use tessera_jose::Algorithm;

mod common;
use common::{jwt_verify, run_child_under_valgrind, tessera_verify, valgrind_out, Fixture, ALGS};

/// Verifies per instruction-count window.
const K: u64 = 64;

/// Rounds of the interleaved measurement, and the length of one side's batch.
const ROUNDS: usize = 200;
const BATCH: Duration = Duration::from_millis(2);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Tessera,
    Jwt,
    Bare,
}

const SIDES: [Side; 3] = [Side::Tessera, Side::Jwt, Side::Bare];

/// One verify by `side`; true when it accepted the token.
#[inline(always)]
fn verify_once(f: &Fixture, side: Side) -> bool {
    match side {
        Side::Tessera => tessera_verify(f, black_box(&f.token)).is_some(),
        Side::Jwt => jwt_verify(f, black_box(&f.token)).is_some(),
        Side::Bare => f
            .bare_verify
            .verify(black_box(&f.signing_input), black_box(&f.signature)),
    }
}

/// Nanoseconds per verify over a batch of `n`.
fn batch(f: &Fixture, side: Side, n: u64) -> f64 {
    let start = Instant::now();
    let mut ok = 0u64;
    for _ in 0..n {
        ok += u64::from(verify_once(f, side));
    }
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    assert_eq!(ok, n, "every verify accepts the fixture's token");
    ns
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn range(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

/// The bar for `alg` on the two ratios: (label, passed).
fn bar(alg: Algorithm, speedup: f64, over_bare: f64) -> (&'static str, bool) {
    if alg == Algorithm::HS256 {
        ("jsonwebtoken ÷ tessera ≥ 2", speedup >= 2.0)
    } else {
        ("tessera ÷ bare ≤ 1.10", over_bare <= 1.10)
    }
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1000.0 {
        format!("{:.2} µs", ns / 1000.0)
    } else {
        format!("{ns:.0} ns")
    }
}

/// The interleaved wall-clock rounds for one fixture; returns whether the bar passed.
fn interleaved(f: &Fixture) -> bool {
    // Batch sizes: each side's batch lasts about BATCH.
    let sizes: Vec<u64> = SIDES
        .iter()
        .map(|&side| {
            let probe = batch(f, side, 16).max(1.0);
            ((BATCH.as_nanos() as f64 / probe) as u64).clamp(4, 1_000_000)
        })
        .collect();
    // One warm-up round, not recorded.
    for (i, &side) in SIDES.iter().enumerate() {
        batch(f, side, sizes[i]);
    }
    let mut per_side: [Vec<f64>; 3] = Default::default();
    let mut speedups = Vec::with_capacity(ROUNDS);
    let mut over_bare = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let mut ns = [0.0; 3];
        for k in 0..3 {
            let i = (round + k) % 3;
            ns[i] = batch(f, SIDES[i], sizes[i]);
        }
        for i in 0..3 {
            per_side[i].push(ns[i]);
        }
        speedups.push(ns[1] / ns[0]);
        over_bare.push(ns[0] / ns[2]);
    }
    let (s_lo, s_hi) = range(&speedups);
    let (b_lo, b_hi) = range(&over_bare);
    let s = median(&mut speedups);
    let b = median(&mut over_bare);
    let (label, ok) = bar(f.alg, s, b);
    println!(
        "| {} | {} | {} | {} | {s:.2} [{s_lo:.2}–{s_hi:.2}] | {b:.2} [{b_lo:.2}–{b_hi:.2}] | {label}: {} |",
        f.alg,
        fmt_ns(median(&mut per_side[0])),
        fmt_ns(median(&mut per_side[1])),
        fmt_ns(median(&mut per_side[2])),
        if ok { "PASS" } else { "MISS" },
    );
    ok
}

#[inline(never)]
fn win_tessera(f: &Fixture) -> u64 {
    (0..K)
        .map(|_| u64::from(verify_once(f, Side::Tessera)))
        .sum()
}

#[inline(never)]
fn win_jsonwebtoken(f: &Fixture) -> u64 {
    (0..K).map(|_| u64::from(verify_once(f, Side::Jwt))).sum()
}

#[inline(never)]
fn win_bare(f: &Fixture) -> u64 {
    (0..K).map(|_| u64::from(verify_once(f, Side::Bare))).sum()
}

const WINDOWS: [&str; 3] = ["win_tessera", "win_jsonwebtoken", "win_bare"];

/// Runs each window once after a warm-up (under callgrind when called by the parent).
fn child(alg: Algorithm) {
    let f = Fixture::new(alg);
    for side in SIDES {
        assert!(verify_once(&f, side), "warm-up verify accepts");
    }
    for n in [win_tessera(&f), win_jsonwebtoken(&f), win_bare(&f)] {
        assert_eq!(black_box(n), K, "every verify accepts the fixture's token");
    }
}

/// Inclusive instructions of each window, from `callgrind_annotate --inclusive=yes`.
fn window_counts(annotated: &str) -> Option<[u64; 3]> {
    let mut counts = [None; 3];
    for line in annotated.lines() {
        let line = line.trim_start();
        let Some((num, rest)) = line.split_once(' ') else {
            continue;
        };
        let Ok(n) = num.replace(',', "").parse::<u64>() else {
            continue;
        };
        // `N (p%)  ???:crate::path::win_x [object]` or `file:path::win_x`.
        let name = rest
            .split_whitespace()
            .find(|w| w.contains("win_"))
            .unwrap_or("");
        let name = name.rsplit("::").next().unwrap_or("");
        let name = name.rsplit(':').next().unwrap_or("");
        if let Some(i) = WINDOWS.iter().position(|w| *w == name) {
            counts[i].get_or_insert(n);
        }
    }
    Some([counts[0]?, counts[1]?, counts[2]?])
}

/// Instructions per verify for `alg`: tessera, jsonwebtoken, bare.
fn instructions(exe: &Path, alg: Algorithm) -> Result<[u64; 3], String> {
    let out = valgrind_out("versus", alg, "callgrind");
    let tool = [
        "--tool=callgrind".to_owned(),
        format!("--callgrind-out-file={}", out.display()),
    ];
    run_child_under_valgrind(exe, &tool, "--versus-child", alg)?;
    let annotated = Command::new("callgrind_annotate")
        .arg("--inclusive=yes")
        .arg("--threshold=100")
        .arg(&out)
        .output()
        .map_err(|e| format!("cannot run callgrind_annotate: {e}"))?;
    let _ = std::fs::remove_file(&out);
    let text = String::from_utf8_lossy(&annotated.stdout);
    let counts = window_counts(&text).ok_or("a window is missing from callgrind's report")?;
    Ok(counts.map(|c| c / K))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--versus-child") {
        let alg: Algorithm = args
            .get(i + 1)
            .and_then(|a| a.parse().ok())
            .expect("--versus-child ALG");
        child(alg);
        return ExitCode::SUCCESS;
    }
    let flag = |name: &str| args.iter().any(|a| a == name);
    let mut algs: Vec<Algorithm> = args.iter().filter_map(|a| a.parse().ok()).collect();
    if algs.is_empty() {
        algs = ALGS.to_vec();
    }
    if !flag("--bench") {
        // `cargo test --benches`: run the windows once, nothing measured.
        for alg in algs {
            child(alg);
        }
        println!("versus: smoke run only; `cargo bench --bench versus` measures");
        return ExitCode::SUCCESS;
    }
    let mut missed = false;
    if flag("--instructions") {
        let exe = match std::env::current_exe() {
            Ok(p) => p,
            Err(e) => {
                eprintln!("versus: cannot find this executable: {e}");
                return ExitCode::from(2);
            }
        };
        println!("Instructions per verify (callgrind, {K} verifies per window, after a warm-up).");
        println!(
            "Valgrind hides the CPU's SHA extensions, so aws-lc hashes with its AVX code here:"
        );
        println!("HMAC costs far more instructions than on the real CPU, and the HS256 ratio to");
        println!("jsonwebtoken is compressed by it. `− bare` (the work around the primitive) is exact.\n");
        println!("| verify | tessera | jsonwebtoken | bare aws-lc-rs | tessera − bare | jwt − bare | jwt ÷ tessera | tessera ÷ bare | bar |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---|");
        for alg in algs {
            let [t, j, b] = match instructions(&exe, alg) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("versus: {e}");
                    return ExitCode::from(2);
                }
            };
            let (speedup, over_bare) = (j as f64 / t as f64, t as f64 / b.max(1) as f64);
            // HS256's bar is a time bar; instructions cannot say it (see above).
            let verdict = if alg == Algorithm::HS256 {
                "(time bar: run without --instructions)".to_owned()
            } else {
                let (label, ok) = bar(alg, speedup, over_bare);
                missed |= !ok;
                format!("{label}: {}", if ok { "PASS" } else { "MISS" })
            };
            println!(
                "| {alg} | {t} | {j} | {b} | {} | {} | {speedup:.2} | {over_bare:.2} | {verdict} |",
                t.saturating_sub(b),
                j.saturating_sub(b),
            );
        }
    } else {
        println!(
            "Verify, interleaved wall clock: {ROUNDS} rounds of one ~{} ms batch per side, the order rotating; medians, ratios taken within each round [min–max].\n",
            BATCH.as_millis()
        );
        println!("| verify | tessera | jsonwebtoken | bare aws-lc-rs | jwt ÷ tessera | tessera ÷ bare | bar |");
        println!("|---|---:|---:|---:|---:|---:|---|");
        for alg in algs {
            let f = Fixture::new(alg);
            missed |= !interleaved(&f);
        }
    }
    if missed && flag("--check") {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
