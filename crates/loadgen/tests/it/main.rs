//! Integration tests of the load benchmark's binaries, run as `--phases compare` runs them.

mod baseline;
