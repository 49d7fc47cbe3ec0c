//! Bounded, deterministic runs of the fuzz targets' entry points (`tessera_server::fuzzing`,
//! the same functions `crates/server/fuzz` drives with libFuzzer): seeds of each parser's
//! tricky inputs, and their random mutations. Fast enough for every test run; the
//! coverage-guided campaigns are in `crates/server/fuzz/README.md`.

use tessera_server::fuzzing;

/// Mutations per seed.
const ROUNDS: usize = 2_000;

/// A small deterministic generator (xorshift64*): the same inputs on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// `seed` with a few bytes flipped, inserted, deleted or duplicated.
fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    const SPICE: &[&[u8]] = &[
        b"\"", b"\\", b"\\u0000", b"\\ud800", b"{", b"}", b"[", b"]", b",", b":", b"\0", b"\xff",
        b"\xc3", b";", b"=", b" ", b"\n", b"::", b"%", b"null", b"1e999",
    ];
    let mut v = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(5) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            1 => {
                let s = SPICE[rng.below(SPICE.len())];
                v.splice(at..at, s.iter().copied());
            }
            2 if at < v.len() => {
                let end = (at + rng.below(8)).min(v.len());
                v.drain(at..end);
            }
            3 => {
                let end = (at + rng.below(16)).min(v.len());
                let piece = v[at..end].to_vec();
                v.splice(at..at, piece);
            }
            _ => v.push(rng.next() as u8),
        }
    }
    v
}

fn run(seeds: &[&[u8]], target: fn(&[u8])) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for seed in seeds {
        target(seed);
        for _ in 0..ROUNDS {
            target(&mutate(&mut rng, seed));
        }
    }
}

#[test]
fn json_bodies() {
    run(
        &[
            br#"{"username":"alice","password":"correct horse","delivery":"body"}"#,
            br#"{"refresh_token":"AAAA"}"#,
            br#"{"username":1,"password":[]}"#,
            b"token=abc&token_type_hint=refresh_token",
            b"",
        ],
        fuzzing::json_bodies,
    );
}

#[test]
fn cookie_headers() {
    run(
        &[
            b"__Host-tessera_refresh=abc; other=1",
            b"tessera_refresh=\"q\"; __Host-tessera_refresh=",
            b";;=;",
        ],
        fuzzing::cookie_header,
    );
}

#[test]
fn forwarded_and_bearer_headers() {
    run(
        &[
            b"1.1.1.1, 10.0.0.7\nBearer abc",
            b"::1\n2001:db8::1, fe80::1%eth0\nbearer  x ",
            b"unknown\nBasic YTpi",
        ],
        fuzzing::forwarded_and_bearer,
    );
}

#[test]
fn config_files_and_variables() {
    run(
        &[
            b"[server]\nbind = \"127.0.0.1:8080\"\n[tokens]\naccess_ttl = \"5m\"\n\0TESSERA_TOKENS__LEEWAY=0s",
            b"[cors]\nallowed_origins = [\"https://a.example\"]\n\0TESSERA_CORS__ALLOWED_ORIGINS=[\"x\"]",
            b"[redis]\nurl = \"redis://x\"\n\0TESSERA_NOPE__X=1",
            // A space, then a two-byte character: once a panic in tracing-subscriber.
            b"[log]\nlevel = \" inf\xc8\xad[x]\"\n\0TESSERA_LOG__LEVEL= \xc3\xa9[y]",
        ],
        fuzzing::config,
    );
}

#[test]
fn feed_cursors() {
    run(
        &[b"MS5hYmNkZWYuNDI", b"MS4wLjA", b"AAAA"],
        fuzzing::feed_cursor,
    );
}
