//! Heap allocations per verify, against the issue's rule: "The verify path allocates nothing
//! beyond what serde needs for the caller's claims type."
//!
//! The workspace forbids `unsafe_code` for every target of this crate, so a counting
//! `#[global_allocator]` (an `unsafe impl GlobalAlloc`) cannot be written here. Instead this
//! bench re-runs itself under Valgrind's DHAT, which sees every `malloc`/`realloc`/`calloc`
//! of the process, the Rust heap and aws-lc's C heap alike. Each measured operation runs `K`
//! times inside its own `#[inline(never)]` window function; an allocation is charged to the
//! window whose frame is on its stack, and divided by `K`. Every window is preceded by a
//! warm-up call outside it, so one-time initialisation is not charged.
//!
//! Per algorithm it counts, for one verify:
//! - `serde/*`: `serde_json::from_slice` of the (already decoded) payload: what serde needs;
//! - `bare`: the aws-lc-rs primitive with a pre-parsed key (its C allocations, if any);
//! - `tessera/*`: `Verifier::verify` of the full token into the same claims types;
//! - `jsonwebtoken/*`: `jsonwebtoken::decode`, for contrast.
//!
//! It exits 1 when a tessera verify allocates more than serde plus the bare primitive, and
//! 2 when Valgrind is missing. Run with `cargo bench -p tessera-jose --bench alloc`.

use std::hint::black_box;
use std::path::Path;
use std::process::{Command, ExitCode};

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;
use tessera_jose::{base64url, Algorithm};

mod common;
use common::{
    jwt_verify, now, run_child_under_valgrind, tessera_verify, valgrind_out, AccessClaims, Fixture,
    ALGS,
};

/// A claims type with no owned data: serde needs no allocation for it.
#[derive(Debug, Deserialize)]
struct NumericClaims {
    iat: u64,
    nbf: u64,
    exp: u64,
}

impl NumericClaims {
    fn sum(&self) -> u64 {
        self.iat ^ self.nbf ^ self.exp
    }
}

/// Iterations inside each window.
const K: u64 = 32;

/// Window function names, in report order (each is a `fn` below).
const WINDOWS: [&str; 9] = [
    "win_serde_access",
    "win_serde_numeric",
    "win_bare_verify",
    "win_tessera_access",
    "win_tessera_numeric",
    "win_tessera_ignored",
    "win_jwt_access",
    "win_jwt_numeric",
    "win_tessera_sign",
];

fn label(window: &str) -> &'static str {
    match window {
        "win_serde_access" => "serde_json::from_slice::<AccessClaims>(payload)",
        "win_serde_numeric" => "serde_json::from_slice::<NumericClaims>(payload)",
        "win_bare_verify" => "aws-lc-rs bare verify (pre-parsed key)",
        "win_tessera_access" => "tessera verify::<AccessClaims>",
        "win_tessera_numeric" => "tessera verify::<NumericClaims>",
        "win_tessera_ignored" => "tessera verify::<IgnoredAny>",
        "win_jwt_access" => "jsonwebtoken decode::<AccessClaims>",
        "win_jwt_numeric" => "jsonwebtoken decode::<NumericClaims>",
        "win_tessera_sign" => "tessera Signer::sign (info)",
        _ => "?",
    }
}

#[inline(never)]
fn win_serde_access(payload: &[u8]) -> usize {
    let mut n = 0;
    for _ in 0..K {
        let c: AccessClaims = serde_json::from_slice(black_box(payload)).expect("claims");
        n += c.scope.len();
    }
    n
}

#[inline(never)]
fn win_serde_numeric(payload: &[u8]) -> u64 {
    let mut n = 0;
    for _ in 0..K {
        let c: NumericClaims = serde_json::from_slice(black_box(payload)).expect("claims");
        n ^= c.sum();
    }
    n
}

#[inline(never)]
fn win_bare_verify(f: &Fixture) -> u64 {
    let mut n = 0;
    for _ in 0..K {
        n += u64::from(
            f.bare_verify
                .verify(black_box(&f.signing_input), black_box(&f.signature)),
        );
    }
    n
}

#[inline(never)]
fn win_tessera_access(f: &Fixture) -> usize {
    let mut n = 0;
    for _ in 0..K {
        n += tessera_verify(f, black_box(&f.token)).map_or(0, |c| c.scope.len());
    }
    n
}

#[inline(never)]
fn win_tessera_numeric(f: &Fixture) -> u64 {
    let mut n = 0;
    for _ in 0..K {
        let v = f
            .verifier
            .verify::<NumericClaims>(black_box(&f.token), now());
        n ^= v.map_or(0, |v| v.claims().sum());
    }
    n
}

#[inline(never)]
fn win_tessera_ignored(f: &Fixture) -> usize {
    let mut n = 0;
    for _ in 0..K {
        n += usize::from(
            f.verifier
                .verify::<IgnoredAny>(black_box(&f.token), now())
                .is_ok(),
        );
    }
    n
}

#[inline(never)]
fn win_jwt_access(f: &Fixture) -> usize {
    let mut n = 0;
    for _ in 0..K {
        n += jwt_verify(f, black_box(&f.token)).map_or(0, |c| c.scope.len());
    }
    n
}

#[inline(never)]
fn win_jwt_numeric(f: &Fixture) -> u64 {
    let mut n = 0;
    for _ in 0..K {
        let td = jsonwebtoken::decode::<NumericClaims>(
            black_box(&f.token),
            &f.jwt_decoding,
            &f.jwt_validation,
        );
        n ^= td.map_or(0, |t| t.claims.sum());
    }
    n
}

#[inline(never)]
fn win_tessera_sign(f: &Fixture) -> usize {
    let mut n = 0;
    for _ in 0..K {
        n += f.signer.sign(black_box(&f.claims)).map_or(0, |t| t.len());
    }
    n
}

/// Runs every window once for `alg` (under DHAT when called by the parent).
fn child(alg: Algorithm) {
    let f = Fixture::new(alg);
    let payload_b64 = f.token.split('.').nth(1).expect("payload segment");
    let payload = base64url::decode(payload_b64.as_bytes()).expect("payload is base64url");

    // Warm-ups outside the windows: one-time initialisation is not charged to a window.
    let numeric = f
        .verifier
        .verify::<NumericClaims>(&f.token, now())
        .expect("tessera verifies into NumericClaims");
    assert_eq!(numeric.claims().exp, f.claims.exp);
    f.verifier
        .verify::<IgnoredAny>(&f.token, now())
        .expect("tessera verifies into IgnoredAny");
    assert!(serde_json::from_slice::<AccessClaims>(&payload).is_ok());
    assert!(serde_json::from_slice::<NumericClaims>(&payload).is_ok());
    assert!(f.bare_verify.verify(&f.signing_input, &f.signature));
    assert!(jwt_verify(&f, &f.token).is_some());
    assert!(tessera_verify(&f, &f.token).is_some());
    assert!(f.signer.sign(&f.claims).is_ok());
    assert!(
        jsonwebtoken::decode::<NumericClaims>(&f.token, &f.jwt_decoding, &f.jwt_validation).is_ok()
    );

    black_box(win_serde_access(&payload));
    black_box(win_serde_numeric(&payload));
    black_box(win_bare_verify(&f));
    black_box(win_tessera_access(&f));
    black_box(win_tessera_numeric(&f));
    black_box(win_tessera_ignored(&f));
    black_box(win_jwt_access(&f));
    black_box(win_jwt_numeric(&f));
    black_box(win_tessera_sign(&f));
}

/// Allocations charged to one window, split by who called the allocator.
#[derive(Debug, Default, Clone)]
struct Count {
    /// Blocks allocated from Rust code.
    rust: u64,
    /// Blocks allocated from C code (aws-lc).
    c: u64,
    /// Allocation sites: first non-allocator frame -> blocks.
    sites: Vec<(String, u64)>,
}

impl Count {
    fn total(&self) -> u64 {
        self.rust + self.c
    }
}

const ALLOCATOR_FRAMES: [&str; 6] = [
    "malloc",
    "calloc",
    "realloc",
    "posix_memalign",
    "aligned_alloc",
    "memalign",
];

/// The function name of a DHAT frame string `0xADDR: name (file:line)` / `(in object)`.
fn frame_fn(frame: &str) -> &str {
    let rest = frame.split_once(": ").map_or(frame, |(_, r)| r);
    rest.rsplit_once(" (").map_or(rest, |(name, _)| name)
}

fn is_window(name: &str, window: &str) -> bool {
    name.rsplit("::").next() == Some(window)
}

/// Charges every allocation site of a DHAT profile to the window on its stack.
fn attribute(profile: &Value) -> Vec<Count> {
    let ftbl: Vec<&str> = profile["ftbl"]
        .as_array()
        .expect("DHAT ftbl")
        .iter()
        .map(|v| v.as_str().unwrap_or(""))
        .collect();
    let mut counts = vec![Count::default(); WINDOWS.len()];
    for pp in profile["pps"].as_array().expect("DHAT pps") {
        let blocks = pp["tbk"].as_u64().unwrap_or(0);
        let frames: Vec<&str> = pp["fs"]
            .as_array()
            .map(|fs| {
                fs.iter()
                    .filter_map(|i| i.as_u64())
                    .filter_map(|i| usize::try_from(i).ok())
                    .filter_map(|i| ftbl.get(i).copied())
                    .map(frame_fn)
                    .collect()
            })
            .unwrap_or_default();
        let Some(w) = WINDOWS
            .iter()
            .position(|w| frames.iter().any(|f| is_window(f, w)))
        else {
            continue;
        };
        let caller = frames
            .iter()
            .find(|f| !ALLOCATOR_FRAMES.contains(f))
            .copied()
            .unwrap_or("?");
        // Rust symbols are paths (`a::b`, `<T as U>::f`); aws-lc's are plain C names.
        if caller.contains("::") {
            counts[w].rust += blocks;
        } else {
            counts[w].c += blocks;
        }
        let site = frames
            .iter()
            .filter(|f| !ALLOCATOR_FRAMES.contains(f))
            .take(3)
            .copied()
            .collect::<Vec<_>>()
            .join(" <- ");
        match counts[w].sites.iter_mut().find(|(s, _)| *s == site) {
            Some((_, n)) => *n += blocks,
            None => counts[w].sites.push((site, blocks)),
        }
    }
    counts
}

fn per_op(blocks: u64) -> String {
    if blocks.is_multiple_of(K) {
        format!("{}", blocks / K)
    } else {
        format!("{:.2}", blocks as f64 / K as f64)
    }
}

/// Runs the child for `alg` under DHAT and returns its per-window counts.
fn measure(exe: &Path, alg: Algorithm) -> Result<Vec<Count>, String> {
    let out = valgrind_out("alloc", alg, "json");
    let tool = [
        "--tool=dhat".to_owned(),
        "--num-callers=100".to_owned(),
        format!("--dhat-out-file={}", out.display()),
    ];
    run_child_under_valgrind(exe, &tool, "--alloc-child", alg)?;
    let text = std::fs::read_to_string(&out).map_err(|e| format!("DHAT output: {e}"))?;
    let _ = std::fs::remove_file(&out);
    let profile: Value = serde_json::from_str(&text).map_err(|e| format!("DHAT JSON: {e}"))?;
    Ok(attribute(&profile))
}

fn parent() -> ExitCode {
    let have_valgrind = Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_valgrind {
        eprintln!("alloc: valgrind (DHAT) is needed to count allocations; it is not installed");
        return ExitCode::from(2);
    }
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("alloc: cannot find this executable: {e}");
            return ExitCode::from(2);
        }
    };
    let idx = |w: &str| WINDOWS.iter().position(|x| *x == w).unwrap_or(0);
    let mut failures = Vec::new();
    println!("Heap blocks allocated per operation (DHAT, {K} iterations per window).");
    println!("rust = from Rust code, C = from aws-lc.\n");
    for alg in ALGS {
        let counts = match measure(&exe, alg) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("alloc: {e}");
                return ExitCode::from(2);
            }
        };
        println!("{alg}");
        println!(
            "  {:<52} {:>7} {:>7} {:>7}",
            "operation", "total", "rust", "C"
        );
        for (w, c) in WINDOWS.iter().zip(&counts) {
            println!(
                "  {:<52} {:>7} {:>7} {:>7}",
                label(w),
                per_op(c.total()),
                per_op(c.rust),
                per_op(c.c)
            );
        }
        let bare = &counts[idx("win_bare_verify")];
        for (tessera, serde) in [
            ("win_tessera_access", Some("win_serde_access")),
            ("win_tessera_numeric", Some("win_serde_numeric")),
            ("win_tessera_ignored", None),
        ] {
            let t = &counts[idx(tessera)];
            let serde_blocks = serde.map_or(0, |s| counts[idx(s)].total());
            let allowed = serde_blocks + bare.total();
            if t.total() > allowed {
                failures.push(format!(
                    "{alg} {}: {} per verify, serde + bare need {}",
                    label(tessera),
                    per_op(t.total()),
                    per_op(allowed)
                ));
                println!("  sites of {} (blocks over {K} verifies):", label(tessera));
                let mut sites = t.sites.clone();
                sites.sort_by_key(|s| std::cmp::Reverse(s.1));
                for (site, n) in sites {
                    println!("    {n:>6}  {site}");
                }
            }
        }
        println!();
    }
    if failures.is_empty() {
        println!("PASS: every tessera verify allocates exactly what serde needs for the claims type plus what the bare aws-lc primitive allocates itself.");
        ExitCode::SUCCESS
    } else {
        println!("FAIL: tessera verify allocates beyond serde + the crypto primitive:");
        for f in failures {
            println!("  {f}");
        }
        ExitCode::from(1)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--alloc-child") {
        let alg: Algorithm = args
            .get(i + 1)
            .and_then(|a| a.parse().ok())
            .expect("--alloc-child ALG");
        child(alg);
        return ExitCode::SUCCESS;
    }
    if !args.iter().any(|a| a == "--bench") {
        // `cargo test --benches`: exercise the windows once, without valgrind.
        for alg in ALGS {
            child(alg);
        }
        println!("alloc: smoke run only; `cargo bench --bench alloc` counts allocations");
        return ExitCode::SUCCESS;
    }
    parent()
}
