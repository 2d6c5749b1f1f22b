//! End-to-end tests across the crates live in `tests/tests/`: they run the real `mlx-record`
//! and `mlx-analyze` binaries, as a user would.
